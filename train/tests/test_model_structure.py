"""The artifact loads, takes [N,3,S,S] input and gives valid class probabilities."""

from __future__ import annotations

import numpy as np

from gourmetgram import names
from train import artifact


def test_model_json_describes_the_classes(predictor):
    _, meta = predictor
    assert meta["classes"] == list(names.CLASSES)
    assert meta["input_size"] >= 32
    assert len(meta["mean"]) == 3 and len(meta["std"]) == 3


def test_output_shape_for_single_and_batch_input(predictor):
    predict, meta = predictor
    s = meta["input_size"]
    for n in (1, 4):
        out = predict(np.zeros((n, 3, s, s), dtype=np.float32))
        assert out.shape == (n, len(names.CLASSES))


def test_outputs_are_valid_probabilities(predictor):
    predict, meta = predictor
    s = meta["input_size"]
    x = np.random.default_rng(0).normal(size=(3, 3, s, s)).astype(np.float32)
    logits = predict(x)
    assert np.isfinite(logits).all()
    probs = artifact.softmax(logits)
    assert ((probs >= 0) & (probs <= 1)).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
