"""MobileNetV2 in plain torch (no torchvision), with an 11-class dropout head.

The module tree and parameter names follow torchvision's mobilenet_v2
(features.N..., classifier.1), so a torchvision checkpoint such as the lab's
food11.pth state dict loads into it unchanged. width_mult shrinks every layer
(CI trains a 0.35-wide net at 48-64 px in seconds); the network has an adaptive
average pool, so any input size from 32 px up works.
"""

from __future__ import annotations

import torch
from torch import nn

from gourmetgram import names

# (expand ratio t, output channels c, repeats n, first stride s), as in the paper.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
FIRST_CHANNELS = 32
LAST_CHANNELS = 1280
ROUND_NEAREST = 8


def make_divisible(value: float, divisor: int = ROUND_NEAREST) -> int:
    """Round a channel count to a multiple of divisor, never dropping more than 10%."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (3x3) -> project (1x1, linear); skip when shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu(in_ch, hidden, kernel=1))
        layers += [
            conv_bn_relu(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = len(names.CLASSES), width_mult: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        in_ch = make_divisible(FIRST_CHANNELS * width_mult)
        self.last_channel = make_divisible(LAST_CHANNELS * max(1.0, width_mult))
        features: list[nn.Module] = [conv_bn_relu(3, in_ch, stride=2)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            out_ch = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        features.append(conv_bn_relu(in_ch, self.last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        # The lab's head: dropout, then one linear layer to the 11 classes.
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
        # Each residual block starts as the identity (last BN scale 0): a fresh deep net
        # then trains like a shallow one at first, so training from scratch (CI, the
        # synthetic data) converges in a few hundred steps. Checkpoints overwrite this.
        for m in self.modules():
            if isinstance(m, InvertedResidual) and m.use_res_connect:
                nn.init.zeros_(m.conv[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)

    def head_parameters(self) -> list[nn.Parameter]:
        """The classifier's parameters: what the head-only phase trains."""
        return list(self.classifier.parameters())

    def freeze_backbone(self, frozen: bool = True) -> None:
        for p in self.features.parameters():
            p.requires_grad = not frozen


def mobilenet_v2(num_classes: int = len(names.CLASSES), width_mult: float = 1.0, dropout: float = 0.5) -> MobileNetV2:
    """A freshly initialised MobileNetV2 with the lab's head (dropout, linear to num_classes)."""
    return MobileNetV2(num_classes=num_classes, width_mult=width_mult, dropout=dropout)
