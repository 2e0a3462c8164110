"""Fixtures for the app's unit tests: a tiny real MobileNetV2 exported as the registered artifact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gourmetgram import names
from tests.support.app_server import TINY_INPUT_SIZE, jpeg_bytes
from train import export
from train.model import mobilenet_v2


@pytest.fixture(scope="session")
def tiny_torch_model() -> torch.nn.Module:
    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = mobilenet_v2(width_mult=0.25, dropout=0.0)
    # Non-trivial head weights, so the class scores differ and the comparison below means something.
    with torch.no_grad():
        for p in model.classifier.parameters():
            p.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_torch_model) -> Path:
    out = tmp_path_factory.mktemp("app-unit") / "model"
    export.export_onnx(tiny_torch_model, out, TINY_INPUT_SIZE, names.CLASSES)
    return out


@pytest.fixture(scope="session")
def state_dict_model_dir(tmp_path_factory, tiny_torch_model) -> Path:
    out = tmp_path_factory.mktemp("app-unit-bad") / "model"
    export.export_state_dict(tiny_torch_model, out, TINY_INPUT_SIZE, names.CLASSES)
    return out


@pytest.fixture
def version_file(tmp_path) -> Path:
    path = tmp_path / "versions.txt"
    path.write_text(names.version_string(4) + "\n")
    return path


@pytest.fixture
def make_jpeg():
    """make_jpeg(size=(w, h), seed=0) -> JPEG bytes of random noise."""

    def make(size: tuple[int, int] = (80, 60), seed: int = 0) -> bytes:
        return jpeg_bytes(size, seed)

    return make
