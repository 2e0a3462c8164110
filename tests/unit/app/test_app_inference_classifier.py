"""app.inference: loading the registered artifact and classifying with onnxruntime."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from app import inference
from gourmetgram import names, preprocess


def test_classifier_agrees_with_the_torch_model(tiny_model_dir, tiny_torch_model, make_jpeg):
    clf = inference.Classifier(tiny_model_dir, threads=1)
    img = preprocess.load_image(make_jpeg(seed=5))
    pred = clf.predict_image(img)
    x = torch.from_numpy(preprocess.preprocess(img, clf.input_size)[np.newaxis])
    with torch.no_grad():
        expected = torch.softmax(tiny_torch_model(x), dim=1)[0].numpy()
    got = np.array([pred.probabilities[c] for c in names.CLASSES])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert pred.class_name == names.CLASSES[int(expected.argmax())]
    assert pred.confidence == pytest.approx(float(expected.max()), abs=1e-4)


def test_predict_bytes_gives_a_distribution_over_the_eleven_classes(tiny_model_dir, make_jpeg):
    pred = inference.Classifier(tiny_model_dir).predict_bytes(make_jpeg(size=(300, 40)))
    assert list(pred.probabilities) == list(names.CLASSES)
    assert sum(pred.probabilities.values()) == pytest.approx(1.0)
    assert pred.as_dict()["class_name"] == pred.class_name


def test_predict_bytes_refuses_bad_input_with_image_errors(tiny_model_dir):
    clf = inference.Classifier(tiny_model_dir)
    with pytest.raises(preprocess.ImageError, match="empty"):
        clf.predict_bytes(b"")
    with pytest.raises(preprocess.ImageError, match="not a readable image"):
        clf.predict_bytes(b"GIF89a but not really")
    bomb = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bomb, "PNG")
    with pytest.raises(preprocess.ImageTooLargeError):
        clf.predict_bytes(bomb.getvalue())


def test_the_labs_state_dict_artifact_is_refused_with_the_reason(state_dict_model_dir):
    with pytest.raises(inference.ModelLoadError, match=r"'state-dict'.*model\.pth"):
        inference.Classifier(state_dict_model_dir)


def _copy_with_meta(src, dst, **changes):
    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    meta.update(changes)
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"classes": list(reversed(names.CLASSES))}, "differ from the Food-11 classes"),
        ({"classes": []}, "non-empty list"),
        ({"input_size": "big"}, "'input_size' must be an integer"),
        ({"input_name": "pixels"}, "has no input 'pixels'"),
        ({"input_size": 48}, "does not run on a"),
    ],
)
def test_an_artifact_that_breaks_the_contract_is_refused(tiny_model_dir, tmp_path, changes, message):
    broken = _copy_with_meta(tiny_model_dir, tmp_path / "model", **changes)
    with pytest.raises(inference.ModelLoadError, match=message):
        inference.Classifier(broken)


def test_missing_files_are_named(tiny_model_dir, tmp_path):
    with pytest.raises(inference.ModelLoadError, match="does not exist"):
        inference.Classifier(tmp_path / "nowhere")
    no_onnx = tmp_path / "no-onnx"
    no_onnx.mkdir()
    shutil.copy(tiny_model_dir / "model.json", no_onnx)
    with pytest.raises(inference.ModelLoadError, match=r"model\.onnx is missing"):
        inference.Classifier(no_onnx)
    no_meta = tmp_path / "no-meta"
    no_meta.mkdir()
    with pytest.raises(inference.ModelLoadError, match=r"model\.json is missing"):
        inference.Classifier(no_meta)
    (no_meta / "model.json").write_text("{not json")
    with pytest.raises(inference.ModelLoadError, match="not readable JSON"):
        inference.Classifier(no_meta)


@pytest.mark.parametrize("raw", ["0", "-2", "two"])
def test_ort_threads_must_be_a_positive_integer(monkeypatch, raw):
    monkeypatch.setenv(inference.ORT_THREADS_ENV, raw)
    with pytest.raises(inference.ModelLoadError, match="GG_ORT_THREADS"):
        inference.ort_threads_from_env()


def test_softmax_is_stable_for_large_logits():
    p = inference.softmax(np.array([1000.0, 1001.0, 999.0]))
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    assert p.argmax() == 1


def _photo_jpeg(size=(2400, 1800)) -> bytes:
    # Smooth content, like a photo (noise would make any downscale look different).
    small = Image.fromarray(np.random.default_rng(3).integers(0, 255, (30, 40, 3), dtype=np.uint8))
    buf = io.BytesIO()
    small.resize(size, Image.BICUBIC).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_big_jpegs_decode_at_a_reduced_scale_that_still_covers_the_crop():
    data = _photo_jpeg()
    full = preprocess.load_image(data)
    drafted = preprocess.load_image(data, draft_size=256)
    assert full.size == (2400, 1800)
    assert min(drafted.size) >= 256 and drafted.size[0] < full.size[0]
    diff = np.abs(preprocess.preprocess(full) - preprocess.preprocess(drafted))
    assert diff.mean() < 0.05  # normalised units: a fraction of one percent of the pixel range


def test_the_classifier_uses_the_reduced_decode_for_uploads(tiny_model_dir, monkeypatch):
    clf = inference.Classifier(tiny_model_dir)
    seen = []
    real = preprocess.load_image

    def spy(source, draft_size=None):
        seen.append(draft_size)
        return real(source, draft_size=draft_size)

    monkeypatch.setattr(preprocess, "load_image", spy)
    assert clf.predict_bytes(_photo_jpeg((640, 480))).class_name in names.CLASSES
    assert seen == [clf.resize_size]
