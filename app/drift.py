"""The input drift score's metrics (definition and reference: gourmetgram/drift.py).

Per classification, one count in the reference bin of each statistic
(gourmetgram_drift_bin_total), and the reference itself as gauges, so the alert rules
(k8s/platform/files/prometheus/retrain-alerts.yml) compare the window's shares with the
reference of the very model version that answered. A model without a drift_reference
in its model.json (trained before it existed) exports no drift series: no score, no alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from gourmetgram import drift

log = logging.getLogger("gourmetgram.app")

LABELS = ("environment", "model_version")
BIN_COUNTS = Counter(
    "gourmetgram_drift_bin",
    "Classifications by the reference bin (0-9, the reference's deciles) each input statistic fell into.",
    [*LABELS, "statistic", "bin"],
)
REFERENCE_SHARE = Gauge(
    "gourmetgram_drift_reference_share",
    "Share of the model's reference images (held-out splits) in each bin of each statistic.",
    [*LABELS, "statistic", "bin"],
    multiprocess_mode="livemax",
)
REFERENCE_CONFIDENCE = Gauge(
    "gourmetgram_drift_reference_confidence_mean",
    "Mean top-1 probability of the model on its reference images.",
    list(LABELS),
    multiprocess_mode="livemax",
)
_declared: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class InputDrift:
    """One classification's place in the model's reference: the bin of each statistic."""

    reference: dict
    bins: dict[str, int]


def reference_of(meta: dict) -> dict | None:
    """The model's checked drift reference, or None (logged) when model.json has none or a bad one."""
    ref = meta.get(drift.META_KEY)
    if ref is None:
        log.warning("model.json has no %s: no input drift metrics for this model", drift.META_KEY)
        return None
    try:
        return drift.check_reference(ref)
    except drift.DriftReferenceError as exc:
        log.error("no input drift metrics: %s", exc)
        return None


def measure(reference: dict | None, x, mean, std, confidence: float) -> InputDrift | None:
    """The bins of one preprocessed input x (3, S, S) and its top-1 probability."""
    if reference is None:
        return None
    stats = drift.image_statistics(x, mean, std)
    stats["confidence"] = confidence
    return InputDrift(reference, drift.bins_of(reference, stats))


def _declare(served: tuple[str, str], reference: dict) -> None:
    # Every bin's series exists (at 0 until hit), so a window's shares have all BINS terms.
    for name in drift.STATISTICS:
        for i, share in enumerate(reference["shares"][name]):
            BIN_COUNTS.labels(*served, name, str(i))
            REFERENCE_SHARE.labels(*served, name, str(i)).set(share)
    REFERENCE_CONFIDENCE.labels(*served).set(reference["confidence_mean"])
    _declared.add(served)


def observe(served: tuple[str, str], measured: InputDrift | None) -> None:
    if measured is None:
        return
    if served not in _declared:
        _declare(served, measured.reference)
    for name, index in measured.bins.items():
        BIN_COUNTS.labels(*served, name, str(index)).inc()
