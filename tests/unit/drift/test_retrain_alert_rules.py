"""The retraining alert rules (k8s/platform/files/prometheus/retrain-alerts.yml), run by the real promtool.

Each scenario replays the app's counters (tests/support/drift_series.py) at 20
classifications per 15 s scrape and states when an alert must and must not fire.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml

from gourmetgram import drift
from tests.support import drift_series as ds

STEP_PREDICTIONS = 20
SHARP = drift.STATISTICS.index("sharpness")
BASE_LABELS = {"environment": "production", "model_version": "1.0.3", "severity": "warning", "retrain": "true"}


def reference(confidence_mean: float = 0.8) -> dict:
    return {
        "bins": drift.BINS,
        "shares": {name: [1 / drift.BINS] * drift.BINS for name in drift.STATISTICS},
        "edges": {name: [i / drift.BINS for i in range(1, drift.BINS)] for name in drift.STATISTICS},
        "confidence_mean": confidence_mean,
        "images": 100,
        "source": "test",
    }


def uniform_hits(steps: int, per_step: int = STEP_PREDICTIONS) -> np.ndarray:
    return np.full((steps, len(drift.STATISTICS), drift.BINS), per_step / drift.BINS)


def blurred_hits(steps: int, per_step: int = STEP_PREDICTIONS) -> np.ndarray:
    hits = uniform_hits(steps, per_step)
    hits[:, SHARP, :] = 0
    hits[:, SHARP, 0] = per_step  # every input less sharp than the reference's sharpest 90 %
    return hits


def annotations(alertname: str, value: float) -> dict:
    where = "production (model 1.0.3)"
    return {
        "GourmetGramInputDrift": {
            "summary": f"input drift {value:.2f} on production model 1.0.3",
            "reason": f"GourmetGramInputDrift: drift score {value:.3f} > 0.25 on {where}",
        },
        "GourmetGramConfidenceDrop": {
            "summary": f"mean confidence {value:.2f} on production model 1.0.3",
            "reason": f"GourmetGramConfidenceDrop: mean confidence {value:.3f} is 0.1 or more under the "
            f"model's reference on {where}",
        },
        "GourmetGramOnlineAccuracyLow": {
            "summary": f"online accuracy {value:.2f} on production model 1.0.3",
            "reason": f"GourmetGramOnlineAccuracyLow: online accuracy {value:.3f} < 0.5 over 50+ labels in 1h "
            f"on {where}",
        },
    }[alertname]


def firing(alertname: str, at: str, expected: bool, value: float = 0.0) -> dict:
    """An alert_rule_test: at `at`, alertname fires (with value in its annotations) or does not."""
    test = {"eval_time": at, "alertname": alertname, "exp_alerts": []}
    if expected:
        test["exp_alerts"] = [{"exp_labels": {**BASE_LABELS}, "exp_annotations": annotations(alertname, value)}]
    return test


def run(tmp_path, series, alert_tests, expr_tests=None) -> subprocess.CompletedProcess:
    out = ds.run(ds.test_file(series, alert_tests, expr_tests=expr_tests), tmp_path)
    return out


def assert_passes(out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stdout + out.stderr


def test_rules_file_passes_promtool_check():
    out = subprocess.run([ds.promtool(), "check", "rules", str(ds.RULES_FILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    rules = yaml.safe_load(ds.RULES_FILE.read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules if "alert" in r} == set(ds.ALERTS)
    # Every alert starts a retraining through Alertmanager's route on retrain="true".
    assert all(r["labels"]["retrain"] == "true" and r["annotations"]["reason"] for r in rules if "alert" in r)


def test_in_distribution_traffic_raises_no_drift_alert(tmp_path):
    series = ds.drift_series(reference(), uniform_hits(60)) + ds.confidence_series([[0.8] * 20] * 60)
    tests = [firing(name, at, False) for name in ds.ALERTS[:2] for at in ("5m", "10m", "14m")]
    assert_passes(run(tmp_path, series, tests))


def test_blurred_inputs_raise_the_drift_alert_once_the_window_has_200_predictions(tmp_path):
    series = ds.drift_series(reference(), blurred_hits(40))
    # 200 predictions after 2.5 min, then 2 min pending (for: 2m): firing from about 4.5 min on.
    tests = [firing("GourmetGramInputDrift", "2m", False), firing("GourmetGramInputDrift", "6m", True, 0.9)]
    assert_passes(run(tmp_path, series, tests))


def test_drift_on_thin_traffic_raises_nothing(tmp_path):
    series = ds.drift_series(reference(), blurred_hits(60, per_step=2))  # 80 predictions per 10 min
    assert_passes(run(tmp_path, series, [firing("GourmetGramInputDrift", "14m", False)]))


def test_a_failing_expectation_is_reported(tmp_path):
    """The harness itself: expecting no alert where one fires fails, naming the alert and time."""
    series = ds.drift_series(reference(), blurred_hits(40))
    out = run(tmp_path, series, [firing("GourmetGramInputDrift", "6m", False)])
    assert out.returncode != 0
    assert ds.firing_times(out.stdout + out.stderr) == [("GourmetGramInputDrift", "6m")]


@pytest.mark.parametrize(("mean", "fires"), [(0.6, True), (0.75, False)])
def test_confidence_drop_of_more_than_0_1_under_the_reference_fires(tmp_path, mean, fires):
    series = ds.drift_series(reference(0.8), uniform_hits(40)) + ds.confidence_series([[mean] * 20] * 40)
    tests = [firing("GourmetGramConfidenceDrop", "2m", False), firing("GourmetGramConfidenceDrop", "6m", fires, mean)]
    assert_passes(run(tmp_path, series, tests))


@pytest.mark.parametrize(
    ("right", "wrong", "fires"),
    [
        ([0, 0, 1] * 40, [1, 1, 0] * 40, True),  # accuracy 1/3 over 120 labels
        ([1, 1, 0] * 40, [0, 0, 1] * 40, False),  # accuracy 2/3
        ([0] * 120, [1 if i % 4 == 0 else 0 for i in range(120)], False),  # 30 labels: too few to judge
    ],
)
def test_online_accuracy_below_0_5_with_50_labels_fires(tmp_path, right, wrong, fires):
    series = ds.feedback_series(right, wrong)
    # 50 labels after 12.5 min, 5 min pending: firing by 20 min; nothing at 10 min. At 25 min: 33 of 100 right.
    tests = [
        firing("GourmetGramOnlineAccuracyLow", "10m", False),
        firing("GourmetGramOnlineAccuracyLow", "25m", fires, 0.33),
    ]
    assert_passes(run(tmp_path, series, tests))


def test_the_rules_score_equals_the_python_definition(tmp_path):
    """gourmetgram:drift_score:10m is drift.window_score of the window's counts, with uneven reference shares."""
    rng = np.random.default_rng(3)
    ref = reference()
    ref["shares"] = {name: list(rng.dirichlet(np.ones(drift.BINS))) for name in drift.STATISTICS}
    hits = rng.integers(0, 6, size=(40, len(drift.STATISTICS), drift.BINS)).astype(float)
    expected = drift.window_score(ref, {name: hits[:, s, :].sum(axis=0) for s, name in enumerate(drift.STATISTICS)})
    labels = '{environment="production", model_version="1.0.3"}'
    expr = [
        {
            "expr": "round(gourmetgram:drift_score:10m, 0.000001)",  # to 1e-6: float sums differ in the last bit
            "eval_time": "10m",
            "exp_samples": [{"labels": labels, "value": round(expected, 6)}],
        }
    ]
    out = run(tmp_path, ds.drift_series(ref, hits), [], expr)
    assert_passes(out)
    assert 0.05 < expected < 0.9
