"""The exported ONNX model and the torch model agree on the same preprocessed input; model.json contract."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from gourmetgram import names, preprocess
from train import artifact, export, synthetic
from train.model import mobilenet_v2

SIZE = 48


@pytest.fixture(scope="module")
def trained_like_model():
    """A model whose BN statistics and weights are not the fresh defaults (so agreement is not trivial)."""
    torch.manual_seed(0)
    model = mobilenet_v2(width_mult=0.35)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
        model.classifier[1].weight.normal_(0, 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def preprocessed_batch():
    rng = np.random.default_rng(3)
    images = [synthetic.render(c, rng, 64) for c in range(4)]
    return np.stack([preprocess.preprocess(img, SIZE) for img in images])


@pytest.fixture(scope="module")
def onnx_dir(trained_like_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    export.export_onnx(trained_like_model, out, SIZE, names.CLASSES, width_mult=0.35)
    return out


def test_onnx_and_torch_agree_on_preprocessed_images(trained_like_model, onnx_dir, preprocessed_batch):
    predict, _ = artifact.load_predictor(onnx_dir)
    onnx_logits = predict(preprocessed_batch)
    with torch.no_grad():
        torch_logits = trained_like_model(torch.from_numpy(preprocessed_batch)).numpy()
    assert np.abs(torch_logits).max() > 0.1  # a real signal, not all zeros
    np.testing.assert_allclose(onnx_logits, torch_logits, rtol=1e-4, atol=1e-4)
    assert (onnx_logits.argmax(1) == torch_logits.argmax(1)).all()


def test_onnx_graph_names_and_dynamic_batch(onnx_dir):
    graph = onnx.load(str(onnx_dir / export.ONNX_FILE)).graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["logits"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, SIZE, SIZE]
    predict, _ = artifact.load_predictor(onnx_dir)
    assert predict(np.zeros((5, 3, SIZE, SIZE), np.float32)).shape == (5, len(names.CLASSES))


def test_model_json_contract(onnx_dir):
    meta = json.loads((onnx_dir / export.META_FILE).read_text())
    assert meta["format"] == "onnx"
    assert meta["classes"] == list(names.CLASSES)
    assert meta["input_size"] == SIZE
    assert meta["resize_size"] == preprocess.resize_size_for(SIZE)
    assert meta["mean"] == list(preprocess.IMAGENET_MEAN) and meta["std"] == list(preprocess.IMAGENET_STD)
    assert meta["width_mult"] == 0.35


def test_state_dict_artifact_has_no_onnx_but_reloads_to_the_same_logits(
    trained_like_model, preprocessed_batch, tmp_path
):
    export.export_state_dict(trained_like_model, tmp_path, SIZE, names.CLASSES, width_mult=0.35)
    assert not (tmp_path / export.ONNX_FILE).exists()
    assert json.loads((tmp_path / export.META_FILE).read_text())["format"] == "state-dict"
    predict, _ = artifact.load_predictor(tmp_path)
    with torch.no_grad():
        expected = trained_like_model(torch.from_numpy(preprocessed_batch)).numpy()
    np.testing.assert_allclose(predict(preprocessed_batch), expected, rtol=1e-5, atol=1e-5)


def test_export_leaves_the_model_mode_unchanged(tmp_path):
    model = mobilenet_v2(width_mult=0.35).train()
    export.export_onnx(model, tmp_path, 32, names.CLASSES)
    assert model.training


def test_incomplete_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(artifact.ArtifactError, match="model.json"):
        artifact.load_predictor(tmp_path)
    export.write_metadata(tmp_path, export.model_metadata("onnx", names.CLASSES, 32))
    with pytest.raises(artifact.ArtifactError, match="model.onnx missing"):
        artifact.load_predictor(tmp_path)
