"""The input drift score (gourmetgram/drift.py), its reference from training, and the app's drift metrics."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from prometheus_client import REGISTRY

from app import app as app_module
from app import inference, metrics
from gourmetgram import drift, names, preprocess
from train import synthetic

MEAN, STD = preprocess.IMAGENET_MEAN, preprocess.IMAGENET_STD


def stats_of(img: Image.Image, size: int = 48) -> dict[str, float]:
    return drift.image_statistics(preprocess.preprocess(img, size), MEAN, STD)


def test_statistics_of_a_flat_grey_image():
    s = stats_of(Image.new("RGB", (64, 64), (128, 128, 128)))
    assert s["brightness"] == pytest.approx(128 / 255, abs=1e-5)
    assert s["contrast"] == pytest.approx(0, abs=1e-5)
    assert s["sharpness"] == pytest.approx(0, abs=1e-5)
    assert s["saturation"] == pytest.approx(0, abs=1e-5)
    red = stats_of(Image.new("RGB", (64, 64), (255, 0, 0)))
    assert red["saturation"] == pytest.approx(1, abs=1e-5)
    assert red["brightness"] == pytest.approx(0.299, abs=1e-4)


def test_blur_lowers_sharpness_and_inversion_mirrors_brightness():
    img = synthetic.render(3, np.random.default_rng(1), 64)
    plain, blurred, inverted = (
        stats_of(img),
        stats_of(img.filter(ImageFilter.GaussianBlur(2))),
        stats_of(ImageOps.invert(img)),
    )
    assert blurred["sharpness"] < 0.8 * plain["sharpness"]
    assert inverted["brightness"] == pytest.approx(1 - plain["brightness"], abs=0.01)


def test_statistics_refuse_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(3, S, S\)"):
        drift.image_statistics(np.zeros((32, 32, 3), dtype=np.float32), MEAN, STD)


def test_reference_bins_are_equal_mass_and_values_land_in_them():
    rng = np.random.default_rng(0)
    samples = {name: rng.normal(size=1000) for name in drift.STATISTICS}
    ref = drift.check_reference(drift.build_reference(samples, "test"))
    assert ref["images"] == 1000
    for name in drift.STATISTICS:
        assert ref["shares"][name] == pytest.approx([0.1] * 10, abs=0.002)
    edges = ref["edges"]["brightness"]
    assert drift.bin_index(edges, -100) == 0
    assert drift.bin_index(edges, 100) == drift.BINS - 1
    assert drift.bin_index(edges, edges[4]) == 5  # a value on an edge goes up


def test_reference_with_ties_keeps_the_true_shares():
    """A saturated model answers confidence 1.0 for half the images: the shares say so (not 0.1 each)."""
    samples = {name: np.linspace(0, 1, 100) for name in drift.STATISTICS}
    samples["confidence"] = np.r_[np.linspace(0.2, 0.9, 50), np.ones(50)]
    ref = drift.build_reference(samples, "test")
    assert sum(ref["shares"]["confidence"]) == pytest.approx(1)
    assert ref["shares"]["confidence"][-1] >= 0.5
    assert drift.total_variation([5] * 5 + [0] * 4 + [25], ref["shares"]["confidence"]) == pytest.approx(0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(bins=5), "bins must be 10"),
        (lambda r: r["edges"].pop("sharpness"), "edges of sharpness"),
        (lambda r: r["shares"].update(contrast=[0.5] * 10), "shares of contrast"),
        (lambda r: r.update(confidence_mean="high"), "confidence_mean"),
    ],
)
def test_a_bad_reference_is_refused_naming_the_problem(change, message):
    ref = drift.build_reference({name: np.arange(20.0) for name in drift.STATISTICS}, "test")
    change(ref)
    with pytest.raises(drift.DriftReferenceError, match=message):
        drift.check_reference(ref)


def test_build_reference_needs_every_statistic_and_enough_values():
    with pytest.raises(drift.DriftReferenceError, match="lack confidence"):
        drift.build_reference({name: range(20) for name in drift.IMAGE_STATISTICS}, "test")
    with pytest.raises(drift.DriftReferenceError, match="need at least 10"):
        drift.build_reference({name: range(5) for name in drift.STATISTICS}, "test")


def test_total_variation():
    q = [0.1] * 10
    assert drift.total_variation([5] * 10, q) == pytest.approx(0)
    assert drift.total_variation([10] + [0] * 9, q) == pytest.approx(0.9)
    assert math.isnan(drift.total_variation([0] * 10, q))


def test_training_writes_the_reference_into_model_json(drift_model):
    ref = json.loads((drift_model / "model.json").read_text())[drift.META_KEY]
    drift.check_reference(ref)
    assert ref["images"] == 2 * 8 * len(names.CLASSES)  # validation + evaluation, 8 per class each
    assert 0 < ref["confidence_mean"] <= 1


def _score(classifier: inference.Classifier, images) -> float:
    counts = {name: np.zeros(drift.BINS) for name in drift.STATISTICS}
    for img in images:
        for name, b in classifier.predict_image(img).drift.bins.items():
            counts[name][b] += 1
    return drift.window_score(classifier.drift_reference, counts)


def test_new_in_distribution_images_score_low_and_blurred_ones_high(drift_model):
    """200 fresh synthetic images (another seed) against the model's reference, plain and blurred."""
    classifier = inference.Classifier(drift_model)
    rng = np.random.default_rng(99)
    images = [synthetic.render(i % len(names.CLASSES), rng, 64) for i in range(200)]
    plain = _score(classifier, images)
    blurred = _score(classifier, [img.filter(ImageFilter.GaussianBlur(2)) for img in images])
    assert plain < 0.2 < 0.25 < blurred, (plain, blurred)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_the_app_counts_each_prediction_in_its_bins_and_exports_the_reference(drift_model, tmp_path, monkeypatch):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("GG_ENVIRONMENT", "staging")
    version = tmp_path / "versions.txt"
    version.write_text(names.version_string(41) + "\n")
    client = app_module.create_app(drift_model, version).test_client()
    labels = {"environment": "staging", "model_version": names.version_string(41)}
    before = {
        name: sum(
            REGISTRY.get_sample_value("gourmetgram_drift_bin_total", {**labels, "statistic": name, "bin": str(b)}) or 0
            for b in range(drift.BINS)
        )
        for name in drift.STATISTICS
    }
    img = synthetic.render(0, np.random.default_rng(5), 64)
    for _ in range(3):
        resp = client.post(
            "/predict",
            data={"file": (io.BytesIO(_jpeg(img)), "a.jpg")},
            headers={"Accept": "application/json"},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 200
        assert "drift" not in resp.get_json()  # the answer's contract is unchanged
    client.get("/test")  # the built-in test image is not user traffic: not counted
    ref = json.loads((drift_model / "model.json").read_text())[drift.META_KEY]
    for name in drift.STATISTICS:
        after = sum(
            REGISTRY.get_sample_value("gourmetgram_drift_bin_total", {**labels, "statistic": name, "bin": str(b)}) or 0
            for b in range(drift.BINS)
        )
        assert after - before[name] == 3
        share = REGISTRY.get_sample_value(
            "gourmetgram_drift_reference_share", {**labels, "statistic": name, "bin": "0"}
        )
        assert share == pytest.approx(ref["shares"][name][0])
    mean = REGISTRY.get_sample_value("gourmetgram_drift_reference_confidence_mean", labels)
    assert mean == pytest.approx(ref["confidence_mean"])


def test_a_model_without_reference_serves_without_drift_series(tmp_path, caplog):
    from tests.support.app_server import make_tiny_model

    model = make_tiny_model(tmp_path / "model")
    classifier = inference.Classifier(model)
    assert classifier.drift_reference is None
    pred = classifier.predict_image(Image.new("RGB", (40, 40), (10, 200, 30)))
    assert pred.drift is None and pred.class_name in names.CLASSES
