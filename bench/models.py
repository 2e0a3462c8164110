"""The model every serving setup runs: a full-size (224, width 1.0) MobileNetV2, untrained.

Speed does not depend on the weights, so a seeded untrained network is enough. The
same weights are written twice: as the registered artifact the app serves (model/
with model.onnx + model.json, via train.export) and as a whole pickled torch model
object for the reference baseline (torch.save(model), as the reference's food11.pth).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gourmetgram import names, preprocess
from train.export import export_onnx
from train.model import mobilenet_v2

FULL_SIZE = preprocess.FULL_INPUT_SIZE


@dataclass(frozen=True)
class BenchModel:
    model_dir: Path  # model.onnx + model.json (the registered artifact layout)
    torch_whole: Path  # torch.save(model): a whole model object
    input_size: int


def prepare_model(work: Path, input_size: int = FULL_SIZE, seed: int = 0) -> BenchModel:
    torch.manual_seed(seed)
    model = mobilenet_v2(num_classes=len(names.CLASSES), width_mult=1.0).eval()
    model_dir = work / "model"
    if not (model_dir / "model.onnx").is_file():
        export_onnx(model, model_dir, input_size, names.CLASSES)
    whole = work / "food11_whole.pt"
    if not whole.is_file():
        torch.save(model, whole)
    return BenchModel(model_dir=model_dir, torch_whole=whole, input_size=input_size)


PHONE_SIZE = (4032, 3024)  # a 12-megapixel phone camera's 4:3 frame


def bench_jpeg(path: Path, size: tuple[int, int] = (512, 384), seed: int = 0, quality: int = 88) -> Path:
    """A photo-sized JPEG (like a Food-11 upload: ~512 px, a few tens of KB), deterministic."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    w, h = size
    # Smooth colour fields plus mild noise compress like a photo, not like pure noise.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            128 + 90 * np.sin(xx / 37.0 + 1.3) * np.cos(yy / 53.0),
            128 + 80 * np.cos(xx / 61.0) * np.sin(yy / 29.0 + 0.4),
            128 + 70 * np.sin((xx + yy) / 45.0),
        ],
        axis=-1,
    )
    img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="JPEG", quality=quality)
    return path


def phone_jpeg(path: Path, seed: int = 0) -> Path:
    """A 12 MP JPEG as a phone camera sends it (4032x3024, about 3-4 MB), deterministic."""
    return bench_jpeg(path, size=PHONE_SIZE, seed=seed, quality=85)
