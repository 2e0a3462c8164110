"""The model tests (the gate) check one exported artifact; train/flow.py runs them.

They read what to check from the environment:
  GG_GATE_MODEL_DIR   the artifact directory (model.json + model.onnx or model.pth)
  GG_GATE_DATA_DIR    the dataset root (Food-11 layout); the evaluation split is used
  GG_GATE_THRESHOLD   minimum evaluation accuracy (default: train/config.py)
  GG_GATE_RECALL_FLOOR  minimum recall of every class (default: train/config.py)
  GG_GATE_ON_BAD_IMAGE  skip|fail (default skip)
  GG_GATE_CHAMPION_DIR, GG_GATE_CHAMPION_VERSION  the artifact serving production
                      now, if any; GG_GATE_CHAMPION_MARGIN the accuracy points the
                      candidate may lose against it (default: train/config.py)
  GG_GATE_REPORT_DIR  where the evaluation report goes (train/evaluation.py)
Without GG_GATE_MODEL_DIR there is no artifact to check, so a plain `pytest`
from the repository root does not collect them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from train import artifact, config, evaluation

DEFAULTS = config.TrainConfig()


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
    return float(os.environ.get("GG_GATE_THRESHOLD", DEFAULTS.threshold))


@pytest.fixture(scope="session")
def recall_floor() -> float:
    return float(os.environ.get("GG_GATE_RECALL_FLOOR", DEFAULTS.recall_floor))


@pytest.fixture(scope="session")
def on_bad_image() -> str:
    return os.environ.get("GG_GATE_ON_BAD_IMAGE", "skip")


@pytest.fixture(scope="session")
def predictor(model_dir):
    predict, meta = artifact.load_predictor(model_dir)
    return predict, meta


@pytest.fixture(scope="session")
def candidate(model_dir, data_dir, on_bad_image) -> evaluation.Evaluation:
    """The artifact's answers on the evaluation split (computed once for all the gate's tests)."""
    return evaluation.evaluate(model_dir, data_dir, on_bad_image)


@pytest.fixture(scope="session")
def comparison(candidate, data_dir, on_bad_image) -> evaluation.ChampionComparison | None:
    """The candidate against the model serving production, or None when nothing serves it yet."""
    champion_dir = os.environ.get("GG_GATE_CHAMPION_DIR")
    if not champion_dir:
        return None
    champion = evaluation.evaluate(champion_dir, data_dir, on_bad_image)
    margin = float(os.environ.get("GG_GATE_CHAMPION_MARGIN", DEFAULTS.champion_margin))
    return evaluation.compare(candidate, champion, os.environ.get("GG_GATE_CHAMPION_VERSION", "?"), margin)


@pytest.fixture(scope="session")
def report(candidate, recall_floor, comparison) -> dict:
    """What the gate decides on; written to GG_GATE_REPORT_DIR for flow.py to log to MLflow."""
    result = evaluation.build_report(candidate, recall_floor, comparison)
    if os.environ.get("GG_GATE_REPORT_DIR"):
        evaluation.write_report(Path(os.environ["GG_GATE_REPORT_DIR"]), result)
    return result
