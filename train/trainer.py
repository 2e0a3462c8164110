"""The training loop: head-only phase, then fine-tuning with early stopping.

Prints one progress line per epoch and logs per-epoch metrics to the active
MLflow run (if any). Uses CUDA when present (device "auto"). The returned
model holds the weights of the epoch with the best validation accuracy.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow
import numpy as np
import torch
from torch import nn

from train.config import TrainConfig
from train.model import MobileNetV2


@dataclass
class EpochStats:
    epoch: int
    phase: str
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float


@dataclass
class TrainResult:
    model: MobileNetV2
    history: list[EpochStats] = field(default_factory=list)
    best_val_accuracy: float | None = None
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def select_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _loader(dataset, cfg: TrainConfig, shuffle: bool) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=shuffle,
        # A last training batch of one image breaks BatchNorm at small input sizes: drop the remainder.
        drop_last=shuffle and len(dataset) > cfg.batch_size,
        num_workers=cfg.num_workers,
        generator=torch.Generator().manual_seed(cfg.seed) if shuffle else None,
        persistent_workers=cfg.num_workers > 0,
    )


PROGRESS_EVERY_SECONDS = 30.0


def run_epoch(model, loader, criterion, device, optimizer=None, log=None) -> tuple[float, float, int]:
    """One pass; trains when an optimizer is given. Returns (mean loss, accuracy, images).

    With log, long passes (full size on a CPU) report progress every PROGRESS_EVERY_SECONDS.
    """
    training = optimizer is not None
    model.train(training)
    total_loss, correct, seen = 0.0, 0, 0
    last_report = time.perf_counter()
    with torch.set_grad_enabled(training):
        for i, (x, y) in enumerate(loader, 1):
            if log is not None and time.perf_counter() - last_report > PROGRESS_EVERY_SECONDS:
                last_report = time.perf_counter()
                n = max(seen, 1)
                log(f"    batch {i}/{len(loader)}, loss {total_loss / n:.3f}, acc {correct / n:.3f}")
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            loss = criterion(logits, y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    if seen == 0:
        return float("nan"), float("nan"), 0
    return total_loss / seen, correct / seen, seen


def train(
    model: MobileNetV2,
    train_set,
    val_set,
    cfg: TrainConfig,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Run both phases on cfg; metrics go to the active MLflow run when there is one."""
    device = select_device(cfg.device)
    model.to(device)
    train_loader, val_loader = _loader(train_set, cfg, True), _loader(val_set, cfg, False)
    criterion = nn.CrossEntropyLoss()
    result = TrainResult(model=model)
    best_state = None
    log(
        f"training on {device}: {len(train_set)} training / {len(val_set)} validation images, "
        f"{cfg.head_epochs} head-only + up to {cfg.finetune_epochs} fine-tune epochs"
    )
    started = time.perf_counter()

    phases = [
        ("head", cfg.head_epochs, cfg.head_lr, True),
        ("fine-tune", cfg.finetune_epochs, cfg.finetune_lr, False),
    ]
    epoch = 0
    for phase, n_epochs, lr, frozen in phases:
        if n_epochs == 0:
            continue
        model.freeze_backbone(frozen)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
        since_best = 0
        for _ in range(n_epochs):
            epoch += 1
            t0 = time.perf_counter()
            tr_loss, tr_acc, n_img = run_epoch(model, train_loader, criterion, device, optimizer, log)
            train_secs = time.perf_counter() - t0
            va_loss, va_acc, _ = run_epoch(model, val_loader, criterion, device)
            secs = time.perf_counter() - t0
            # Training throughput (forward + backward), without the validation pass.
            ips = n_img / max(train_secs, 1e-9)
            stats = EpochStats(epoch, phase, tr_loss, tr_acc, va_loss, va_acc, secs, ips)
            result.history.append(stats)
            improved = result.best_val_accuracy is None or va_acc > result.best_val_accuracy
            if improved:
                result.best_val_accuracy, result.best_epoch = va_acc, epoch
                best_state = copy.deepcopy(model.state_dict())
                since_best = 0
            else:
                since_best += 1
            log(
                f"epoch {epoch:>2}/{cfg.epochs} [{phase:<9}] loss {tr_loss:.3f} acc {tr_acc:.3f} | "
                f"val loss {va_loss:.3f} acc {va_acc:.3f}{' *' if improved else '  '} | "
                f"{secs:.1f} s, {stats.images_per_second:.0f} img/s training"
            )
            if mlflow.active_run() is not None:
                mlflow.log_metrics(
                    {
                        "train_loss": tr_loss,
                        "train_accuracy": tr_acc,
                        "val_loss": va_loss,
                        "val_accuracy": va_acc,
                        "epoch_seconds": secs,
                        "train_images_per_second": stats.images_per_second,
                    },
                    step=epoch,
                )
            # Early stopping applies to fine-tuning, as in the reference.
            if phase == "fine-tune" and since_best >= cfg.patience:
                log(f"early stop: no better validation accuracy for {cfg.patience} epochs")
                result.stopped_early = True
                break
    model.freeze_backbone(False)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result
