"""A tiny model with its drift reference computed as training does, on a small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.app_server import make_tiny_model
from train import drift_reference, synthetic


@pytest.fixture(scope="session")
def drift_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drift-data")
    synthetic.generate(root, seed=0, images_per_class=12)
    return root


@pytest.fixture(scope="session")
def drift_model(tmp_path_factory, drift_data) -> Path:
    model = make_tiny_model(tmp_path_factory.mktemp("drift-model") / "model")
    drift_reference.attach(model, drift_data)
    return model
