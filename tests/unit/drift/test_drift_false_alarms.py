"""10,000 in-distribution predictions raise no retrain alert; a planted blur does, within a bound.

The app's own classifier (app/inference.py) on fresh synthetic images, each JPEG-encoded as
uploaded, with a drift reference computed as training does (train/drift_reference.py); the
per-prediction bins and confidences, at 1 prediction/s scraped every 15 s, replayed through
the real rules (k8s/platform/files/prometheus/retrain-alerts.yml) by the real promtool
(bench/drift_alarms.py, which `nox -s bench` runs on a trained model). Every evaluation of
the in-distribution part must be silent; the blurred part must fire the drift alert.
"""

from __future__ import annotations

from app import inference
from bench import drift_alarms
from tests.support.app_server import make_tiny_model
from train import drift_reference, synthetic

IN_DISTRIBUTION = 10_000
SHIFTED = 1_000
PER_SCRAPE = 15  # 1 prediction per second, one scrape every 15 s


def test_no_false_alarm_in_10000_predictions_and_a_blur_is_caught(tmp_path):
    synthetic.generate(tmp_path / "data", seed=0, images_per_class=60)
    model = make_tiny_model(tmp_path / "model")
    drift_reference.attach(model, tmp_path / "data")
    classifier = inference.Classifier(model)
    # Seeds the reference never saw: fresh images of the same distribution, then the same kind blurred.
    normal = drift_alarms.classify(classifier, seed=1, n=IN_DISTRIBUTION)
    blurred = drift_alarms.classify(classifier, seed=2, n=SHIFTED, shift=drift_alarms.SHIFTS["blurred"])
    result = drift_alarms.replay(classifier.drift_reference, normal, blurred, PER_SCRAPE, tmp_path)

    assert result["evaluations_before_shift"] == IN_DISTRIBUTION // PER_SCRAPE
    assert result["firing_evaluations_before_shift"] == 0, result
    # The replay can fire: the planted shift raises the drift alert within the shifted predictions.
    delay = result["detection_delay_predictions"].get("GourmetGramInputDrift")
    assert delay is not None and delay <= SHIFTED, result
