"""Shared fixtures for the training unit tests: one CPU thread, a small synthetic dataset."""

from __future__ import annotations

import pytest
import torch

from train import synthetic


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Eight engineers share two cores: keep the unit tests on one thread.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """A tiny synthetic Food-11-layout dataset (3 training images per class, 8 held out)."""
    root = tmp_path_factory.mktemp("synthetic")
    synthetic.generate(root, seed=1, images_per_class=3, image_size=32)
    return root
