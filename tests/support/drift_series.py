"""The app's drift series for promtool: from per-step bin hits to a `promtool test rules` file.

The unit tests (tests/unit/drift) and the false-alarm measurement (bench/drift_alarms.py)
replay the app's counters through the real rules file with the real promtool, so both
measure the rules as Prometheus evaluates them, not a re-implementation.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from gourmetgram import drift, values

RULES_FILE = values.K8S_DIR / "platform" / "files" / "prometheus" / "retrain-alerts.yml"
ALERTS = ("GourmetGramInputDrift", "GourmetGramConfidenceDrop", "GourmetGramOnlineAccuracyLow")
LABELS = {"environment": "production", "model_version": "1.0.3", "namespace": "gourmetgram-production"}


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        raise RuntimeError("promtool not found: apt-get install prometheus (./lab setup installs it)")
    return found


def _labels(**extra: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in {**LABELS, **extra}.items()) + "}"


def _values(seq: Sequence[float]) -> str:
    return " ".join(f"{v:.6g}" for v in seq)


def drift_series(reference: dict, hits: np.ndarray) -> list[dict]:
    """Input series of the app's drift metrics.

    hits[t, s, b]: classifications in step t whose statistic s (drift.STATISTICS order) fell in bin b.
    """
    steps = hits.shape[0]
    cumulative = np.concatenate([np.zeros((1, *hits.shape[1:])), np.cumsum(hits, axis=0)])
    out = []
    for s, name in enumerate(drift.STATISTICS):
        for b in range(drift.BINS):
            out.append(
                {
                    "series": "gourmetgram_drift_bin_total" + _labels(statistic=name, bin=str(b)),
                    "values": _values(cumulative[:, s, b]),
                }
            )
            share = reference["shares"][name][b]
            out.append(
                {
                    "series": "gourmetgram_drift_reference_share" + _labels(statistic=name, bin=str(b)),
                    "values": f"{share:.17g}x{steps}",
                }
            )
    out.append(
        {
            "series": "gourmetgram_drift_reference_confidence_mean" + _labels(),
            "values": f"{reference['confidence_mean']:.6g}x{steps}",
        }
    )
    return out


def confidence_series(confidence_per_step: Sequence[Sequence[float]]) -> list[dict]:
    """gourmetgram_served_confidence_sum/_count from each step's top-1 probabilities."""
    sums = np.concatenate([[0.0], np.cumsum([float(np.sum(c)) for c in confidence_per_step])])
    counts = np.concatenate([[0], np.cumsum([len(c) for c in confidence_per_step])])
    return [
        {"series": "gourmetgram_served_confidence_sum" + _labels(), "values": _values(sums)},
        {"series": "gourmetgram_served_confidence_count" + _labels(), "values": _values(counts)},
    ]


def feedback_series(right_per_step: Sequence[int], wrong_per_step: Sequence[int]) -> list[dict]:
    return [
        {
            "series": "gourmetgram_feedback_total" + _labels(outcome=outcome),
            "values": _values(np.concatenate([[0], np.cumsum(per_step)])),
        }
        for outcome, per_step in (("right", right_per_step), ("wrong", wrong_per_step))
    ]


def test_file(
    series: list[dict],
    alert_tests: list[dict],
    interval: str = "15s",
    rules_file: Path = RULES_FILE,
    expr_tests: list[dict] | None = None,
) -> str:
    return yaml.safe_dump(
        {
            "rule_files": [str(rules_file)],
            "evaluation_interval": interval,
            "tests": [
                {
                    "interval": interval,
                    "input_series": series,
                    "alert_rule_test": alert_tests,
                    "promql_expr_test": expr_tests or [],
                }
            ],
        },
        sort_keys=False,
        width=1_000_000,
    )


def run(text: str, workdir: Path) -> subprocess.CompletedProcess:
    path = workdir / "replay.test.yml"
    path.write_text(text)
    return subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=600)


FAILED_ALERT = re.compile(r"alertname: (\S+), time: (\S+),")


def firing_times(output: str) -> list[tuple[str, str]]:
    """(alertname, eval time) of every alert_rule_test that expected no alert but got one."""
    return FAILED_ALERT.findall(output)
