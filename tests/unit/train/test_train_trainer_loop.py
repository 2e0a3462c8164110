"""The training loop: both phases run, metrics per epoch, best weights kept, early stopping."""

from __future__ import annotations

import torch

from train import config, data, layout, trainer
from train.model import mobilenet_v2


def _sets(root, size):
    splits = data.scan_dataset(root)
    train_set = data.ImageDataset(splits[layout.TRAINING], data.TrainTransform(size), cache=True)
    val_set = data.ImageDataset(splits[layout.VALIDATION], data.EvalTransform(size), cache=True)
    return train_set, val_set


def test_two_phases_log_one_line_per_epoch(small_dataset):
    cfg = config.CI.replace(input_size=32, head_epochs=1, finetune_epochs=1, batch_size=16)
    trainer.seed_everything(0)
    model = mobilenet_v2(width_mult=cfg.width_mult, dropout=cfg.dropout)
    head_before = model.classifier[1].weight.detach().clone()
    stem_before = model.features[0][0].weight.detach().clone()
    lines, stems = [], []

    def log(line):  # also snapshot the stem after each epoch, before the best weights are restored
        lines.append(line)
        stems.append(model.features[0][0].weight.detach().clone())

    result = trainer.train(model, *_sets(small_dataset, 32), cfg, log=log)
    assert [s.phase for s in result.history] == ["head", "fine-tune"]
    assert sum(line.startswith("epoch") for line in lines) == 2
    assert all(0.0 <= s.val_accuracy <= 1.0 and s.train_loss > 0 for s in result.history)
    assert result.best_epoch in (1, 2)
    assert not torch.equal(model.classifier[1].weight, head_before)
    assert torch.equal(stems[1], stem_before)  # after the head-only epoch (stems[0] is the start banner)
    assert not torch.equal(stems[2], stem_before)  # fine-tuning reached the backbone
    assert all(p.requires_grad for p in model.parameters()) and not model.training


def test_head_phase_leaves_the_backbone_alone(small_dataset):
    cfg = config.CI.replace(input_size=32, head_epochs=1, finetune_epochs=0, batch_size=16)
    model = mobilenet_v2(width_mult=cfg.width_mult)
    stem_before = model.features[0][0].weight.detach().clone()
    trainer.train(model, *_sets(small_dataset, 32), cfg, log=lambda _: None)
    assert torch.equal(model.features[0][0].weight, stem_before)


def test_zero_epochs_trains_nothing(small_dataset):
    cfg = config.CI.replace(input_size=32).with_epochs(0)
    model = mobilenet_v2(width_mult=cfg.width_mult)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = trainer.train(model, *_sets(small_dataset, 32), cfg, log=lambda _: None)
    assert result.epochs_run == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_early_stopping_after_patience(small_dataset):
    # A learning rate this small cannot improve validation accuracy for long: stops after `patience` epochs.
    cfg = config.CI.replace(input_size=32, head_epochs=0, finetune_epochs=6, finetune_lr=1e-9, patience=1,
                            batch_size=33)  # fmt: skip
    result = trainer.train(mobilenet_v2(width_mult=cfg.width_mult), *_sets(small_dataset, 32), cfg, log=lambda _: None)
    assert result.stopped_early and result.epochs_run < 6


def test_long_epochs_report_progress_between_batches(small_dataset, monkeypatch):
    monkeypatch.setattr(trainer, "PROGRESS_EVERY_SECONDS", 0.0)
    cfg = config.CI.replace(input_size=32, head_epochs=1, finetune_epochs=0, batch_size=8)
    lines = []
    trainer.train(mobilenet_v2(width_mult=cfg.width_mult), *_sets(small_dataset, 32), cfg, log=lines.append)
    progress = [line for line in lines if line.strip().startswith("batch ")]
    assert progress and progress[-1].strip().startswith("batch 4/4")  # 33 images, batches of 8, remainder dropped
