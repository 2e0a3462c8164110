"""MobileNetV2: shapes at small and full sizes, width scaling, torchvision-compatible names, head."""

from __future__ import annotations

import pytest
import torch

from gourmetgram import names
from train.model import InvertedResidual, make_divisible, mobilenet_v2


@pytest.mark.parametrize(("width", "size"), [(0.35, 32), (0.5, 48), (1.0, 64)])
def test_logits_have_one_column_per_class(width, size):
    model = mobilenet_v2(width_mult=width).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, len(names.CLASSES))
    assert torch.isfinite(out).all()


def test_full_size_parameter_count_matches_the_reference_architecture():
    # torchvision's mobilenet_v2 with an 11-class head has 2,237,963 parameters (2,223,872 backbone + 14,091 head).
    model = mobilenet_v2(num_classes=11, width_mult=1.0)
    assert sum(p.numel() for p in model.parameters()) == 2_223_872 + 1280 * 11 + 11


def test_parameter_names_follow_torchvision_layout():
    keys = set(mobilenet_v2().state_dict())
    for key in (
        "features.0.0.weight",
        "features.0.1.running_mean",
        "features.1.conv.0.0.weight",
        "features.2.conv.1.0.weight",
        "features.18.0.weight",
        "classifier.1.weight",
        "classifier.1.bias",
    ):
        assert key in keys  # fmt: skip


def test_width_mult_shrinks_the_network():
    small = sum(p.numel() for p in mobilenet_v2(width_mult=0.35).parameters())
    full = sum(p.numel() for p in mobilenet_v2(width_mult=1.0).parameters())
    assert small < full / 3


def test_head_is_dropout_then_linear():
    model = mobilenet_v2(dropout=0.3)
    assert isinstance(model.classifier[0], torch.nn.Dropout) and model.classifier[0].p == 0.3
    assert model.classifier[1].out_features == len(names.CLASSES)


def test_freeze_backbone_leaves_only_the_head_trainable():
    model = mobilenet_v2(width_mult=0.35)
    model.freeze_backbone(True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.1.weight", "classifier.1.bias"}
    model.freeze_backbone(False)
    assert all(p.requires_grad for p in model.parameters())


def test_fresh_residual_blocks_start_as_identity():
    model = mobilenet_v2(width_mult=0.35).eval()
    block = next(m for m in model.modules() if isinstance(m, InvertedResidual) and m.use_res_connect)
    x = torch.randn(1, block.out_channels, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)


def test_make_divisible_rounds_to_eight_without_losing_more_than_ten_percent():
    assert make_divisible(32 * 0.35) == 16
    assert make_divisible(24) == 24 and make_divisible(1280 * 1.0) == 1280
    for v in (5.6, 11.2, 33.6, 112.0):
        assert make_divisible(v) % 8 == 0 and make_divisible(v) >= 0.9 * v


@pytest.mark.parametrize("kwargs", [{"width_mult": 0}, {"dropout": 1.0}, {"dropout": -0.1}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        mobilenet_v2(**kwargs)
