"""The one training config: presets, epoch overrides, validation, MLflow params."""

from __future__ import annotations

import dataclasses

import pytest

from train import config


def test_full_preset_is_the_reference_schedule():
    c = config.preset("full")
    assert (c.input_size, c.width_mult, c.dropout) == (224, 1.0, 0.5)
    assert (c.head_epochs, c.head_lr) == (5, 1e-4)
    assert (c.finetune_epochs, c.finetune_lr, c.patience) == (20, 1e-5, 5)
    assert c.threshold == 0.8
    c.validate()


def test_ci_preset_is_tiny_and_valid():
    c = config.preset("ci").validate()
    assert c.input_size <= 64 and c.width_mult <= 0.5
    assert c.head_epochs >= 1 and c.finetune_epochs >= 1  # both phases run
    assert c.epochs == c.head_epochs + c.finetune_epochs


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        config.preset("huge")


@pytest.mark.parametrize(("total", "head", "finetune"), [(0, 0, 0), (3, 3, 0), (5, 5, 0), (8, 5, 3)])
def test_with_epochs_caps_head_first(total, head, finetune):
    c = config.FULL.with_epochs(total)
    assert (c.head_epochs, c.finetune_epochs) == (head, finetune)


def test_negative_epochs_refused():
    with pytest.raises(ValueError):
        config.FULL.with_epochs(-1)


@pytest.mark.parametrize(
    "change",
    [{"input_size": 16}, {"threshold": 1.5}, {"batch_size": 0}, {"on_bad_image": "ignore"}, {"device": "tpu"},
     {"patience": 0}, {"head_lr": 0.0}],
)  # fmt: skip
def test_invalid_values_are_refused_with_the_reason(change):
    with pytest.raises(ValueError, match="invalid training config"):
        config.CI.replace(**change)


def test_unknown_field_refused():
    with pytest.raises(ValueError, match="unknown config field"):
        config.CI.replace(learning_rate=1)


def test_params_cover_every_field():
    params = config.CI.as_params()
    assert set(params) == {f.name for f in dataclasses.fields(config.TrainConfig)}
    assert params["preset"] == "ci"


def test_cpu_preset_is_the_food11_schedule_for_cpu_nodes():
    c = config.preset("cpu").validate()
    assert (c.input_size, c.width_mult, c.device, c.torch_threads) == (160, 1.0, "cpu", 2)
    # At most 8 epochs over both phases: what fits the workflow's deadline on 2 CPUs (see config.CPU).
    assert c.epochs == 8 and c.head_epochs == 4
