"""The input drift score: what it measures, its reference, and the score itself (numpy only).

Per prediction the app measures five numbers (STATISTICS) on the image exactly as the
model sees it (the preprocessed input, de-normalised back to [0, 1]) and on its answer:

    brightness   mean luma (ITU-R 601 weights)
    contrast     standard deviation of luma
    sharpness    mean absolute luma difference between neighbouring pixels (blur lowers it)
    saturation   mean of max(R,G,B) - min(R,G,B)
    confidence   top-1 probability

The reference is computed at training time on the held-out splits (validation +
evaluation) through the same preprocessing and the trained model, and travels in the
model's model.json under "drift_reference": for each statistic the edges of BINS
equal-mass bins (its deciles) and the share of reference images in each bin (1/BINS
up to ties), plus the mean confidence. So a model always carries the reference of the
data it was trained for, and a new model brings its own.

The app counts, per statistic, which reference bin each prediction falls into
(gourmetgram_drift_bin_total); Prometheus turns the counts of a window into shares.
The drift score of a window is, per statistic, the total variation distance between the
window's bin shares p and the reference shares q,

    TV = 1/2 * sum_i |p_i - q_i|        (0 = same histogram, 1 = disjoint)

and the score of a model version is the largest TV over the statistics. The alert rule
(k8s/platform/files/prometheus/retrain-alerts.yml) computes exactly window_score() below;
tests/unit/drift checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

STATISTICS = ("brightness", "contrast", "sharpness", "saturation", "confidence")
IMAGE_STATISTICS = STATISTICS[:4]
BINS = 10
META_KEY = "drift_reference"
# ITU-R BT.601 luma weights.
LUMA = np.asarray((0.299, 0.587, 0.114), dtype=np.float32)


class DriftReferenceError(ValueError):
    """A model.json drift_reference that cannot be used; the message says why."""


def image_statistics(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> dict[str, float]:
    """The image statistics of one preprocessed input x (3, S, S), normalised with mean/std."""
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a (3, S, S) input, got shape {x.shape}")
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    rgb = x * s + m  # back to [0, 1]
    luma = np.tensordot(LUMA, rgb, axes=1)
    sharp = (np.abs(np.diff(luma, axis=1)).mean() + np.abs(np.diff(luma, axis=0)).mean()) / 2
    return {
        "brightness": float(luma.mean()),
        "contrast": float(luma.std()),
        "sharpness": float(sharp),
        "saturation": float((rgb.max(axis=0) - rgb.min(axis=0)).mean()),
    }


def bin_index(edges: Sequence[float], value: float) -> int:
    """0..len(edges): the bin of value between the sorted edges (a value on an edge goes up)."""
    return int(np.searchsorted(np.asarray(edges), value, side="right"))


def build_reference(samples: dict[str, Iterable[float]], source: str) -> dict:
    """The model.json drift_reference from per-statistic reference samples (every statistic needed)."""
    missing = [name for name in STATISTICS if name not in samples]
    if missing:
        raise DriftReferenceError(f"reference samples lack {', '.join(missing)}")
    edges, shares, count = {}, {}, None
    for name in STATISTICS:
        values = np.asarray(list(samples[name]), dtype=np.float64)
        if values.size < BINS:
            raise DriftReferenceError(f"{name}: {values.size} reference values, need at least {BINS}")
        if count is not None and values.size != count:
            raise DriftReferenceError(f"{name}: {values.size} values, the other statistics have {count}")
        count = values.size
        cut = np.quantile(values, np.arange(1, BINS) / BINS)
        hits = np.bincount(np.searchsorted(cut, values, side="right"), minlength=BINS)
        edges[name] = [float(v) for v in cut]
        shares[name] = [float(h / values.size) for h in hits]
    return {
        "bins": BINS,
        "images": int(count),
        "source": source,
        "edges": edges,
        "shares": shares,
        "confidence_mean": float(np.mean(list(samples["confidence"]))),
    }


def check_reference(ref: object) -> dict:
    """ref if it is a usable drift_reference, else DriftReferenceError naming the problem."""
    if not isinstance(ref, dict):
        raise DriftReferenceError(f"{META_KEY} must be an object")
    if ref.get("bins") != BINS:
        raise DriftReferenceError(f"{META_KEY}: bins must be {BINS}, got {ref.get('bins')!r}")
    for name in STATISTICS:
        edges = (ref.get("edges") or {}).get(name)
        shares = (ref.get("shares") or {}).get(name)
        if not isinstance(edges, list) or len(edges) != BINS - 1 or sorted(edges) != edges:
            raise DriftReferenceError(f"{META_KEY}: edges of {name} must be {BINS - 1} sorted numbers")
        if not isinstance(shares, list) or len(shares) != BINS or abs(sum(shares) - 1) > 1e-6:
            raise DriftReferenceError(f"{META_KEY}: shares of {name} must be {BINS} numbers summing to 1")
    if not isinstance(ref.get("confidence_mean"), int | float):
        raise DriftReferenceError(f"{META_KEY}: confidence_mean must be a number")
    return ref


def bins_of(ref: dict, statistics: dict[str, float]) -> dict[str, int]:
    """The reference bin of each statistic of one prediction."""
    return {name: bin_index(ref["edges"][name], statistics[name]) for name in STATISTICS}


def total_variation(counts: Sequence[float], shares: Sequence[float]) -> float:
    """1/2 sum |p - q| between the counts' shares p and the reference shares q (NaN without counts)."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum()
    if n <= 0:
        return float("nan")
    return float(0.5 * np.abs(c / n - np.asarray(shares, dtype=np.float64)).sum())


def window_score(ref: dict, counts: dict[str, Sequence[float]]) -> float:
    """The drift score of one window: the largest total variation distance over the statistics."""
    return max(total_variation(counts[name], ref["shares"][name]) for name in STATISTICS)
