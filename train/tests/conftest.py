"""The model tests (the gate) check one exported artifact; train/flow.py runs them.

They read what to check from the environment:
  GG_GATE_MODEL_DIR   the artifact directory (model.json + model.onnx or model.pth)
  GG_GATE_DATA_DIR    the dataset root (Food-11 layout); the evaluation split is used
  GG_GATE_THRESHOLD   minimum evaluation accuracy (default 0.8)
  GG_GATE_ON_BAD_IMAGE  skip|fail (default skip)
Without GG_GATE_MODEL_DIR there is no artifact to check, so a plain `pytest`
from the repository root does not collect them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from train import artifact

DEFAULT_THRESHOLD = 0.8


def pytest_ignore_collect(collection_path, config):
    if not os.environ.get("GG_GATE_MODEL_DIR") and collection_path.name.startswith("test_"):
        return True
    return None


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return Path(os.environ["GG_GATE_MODEL_DIR"])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    value = os.environ.get("GG_GATE_DATA_DIR")
    if not value:
        pytest.fail("GG_GATE_DATA_DIR is not set: the accuracy test needs the dataset root")
    return Path(value)


@pytest.fixture(scope="session")
def threshold() -> float:
    return float(os.environ.get("GG_GATE_THRESHOLD", DEFAULT_THRESHOLD))


@pytest.fixture(scope="session")
def on_bad_image() -> str:
    return os.environ.get("GG_GATE_ON_BAD_IMAGE", "skip")


@pytest.fixture(scope="session")
def predictor(model_dir):
    predict, meta = artifact.load_predictor(model_dir)
    return predict, meta
