"""Checks and verdicts as pure functions: no Prometheus, no MLflow, no clock.

Argo Rollouts' words: each interval is one *measurement* whose phase is Successful,
Failed or Inconclusive; more than failure_limit failed measurements fail the analysis
(abort), more than inconclusive_limit inconclusive ones stop it for a person (pause).
Too few requests is Inconclusive, never Successful. A check that needs users' labels (online
accuracy) is Skipped when either side has too few: it neither passes nor blocks, and the
measurement's reason says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from gourmetgram import names
from gourmetgram.canary.plan import Checks

SUCCESSFUL, FAILED, INCONCLUSIVE = "Successful", "Failed", "Inconclusive"
# A check's phase when its precondition (enough labels) does not hold; never a measurement's phase.
SKIPPED = "Skipped"
# Verdicts of a whole analysis.
PROMOTE, ABORT, PAUSE = "promote", "abort", "pause"


@dataclass
class Signals:
    """One environment's numbers over one window (None = no sample: nothing to measure)."""

    requests: float = 0.0
    error_rate: float | None = None
    latency_p95: float | None = None
    confidence_mean: float | None = None
    classes: dict[str, float] = field(default_factory=dict)
    labels: float = 0.0  # users' labels (feedback) on this version's predictions in the window
    accuracy: float | None = None  # right / labels; None without labels


@dataclass
class CheckResult:
    name: str
    value: float | None
    threshold: float
    condition: str  # the success condition, in words, with the numbers it used
    phase: str


@dataclass
class Measurement:
    phase: str
    reason: str
    checks: list[CheckResult]
    canary: Signals
    production: Signals

    def as_dict(self) -> dict:
        return asdict(self)


def jensen_shannon(p: dict[str, float], q: dict[str, float]) -> float | None:
    """Jensen-Shannon divergence of two count vectors, base 2 (0 = same mix, 1 = disjoint)."""
    keys = sorted(set(p) | set(q))
    sp, sq = sum(max(p.get(k, 0), 0) for k in keys), sum(max(q.get(k, 0), 0) for k in keys)
    if sp <= 0 or sq <= 0:
        return None
    total = 0.0
    for k in keys:
        a, b = max(p.get(k, 0), 0) / sp, max(q.get(k, 0), 0) / sq
        m = (a + b) / 2
        if a > 0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0:
            total += 0.5 * b * math.log2(b / m)
    return max(0.0, min(1.0, total))


def _check(name: str, value: float | None, threshold: float, condition: str) -> CheckResult:
    if value is None or math.isnan(value):
        return CheckResult(name, None, threshold, condition + " (no data)", INCONCLUSIVE)
    return CheckResult(name, round(value, 6), threshold, condition, SUCCESSFUL if value <= threshold else FAILED)


def _accuracy_check(canary: Signals, production: Signals, checks: Checks) -> CheckResult:
    """Online accuracy, production's minus the canary's, only with min_labels labels on each side."""
    short = [
        f"{env} {round(n, 1):g} labels < {checks.min_labels}"
        for env, n in ((names.CANARY, canary.labels), (names.PRODUCTION, production.labels))
        if n < checks.min_labels
    ]
    if short:
        return CheckResult("accuracy_drop", None, checks.max_accuracy_drop, "skipped: " + ", ".join(short), SKIPPED)
    if canary.accuracy is None or production.accuracy is None:
        return _check("accuracy_drop", None, checks.max_accuracy_drop, "production online accuracy - canary's")
    return _check(
        "accuracy_drop",
        production.accuracy - canary.accuracy,
        checks.max_accuracy_drop,
        f"production online accuracy {production.accuracy:.3f} - canary's {canary.accuracy:.3f} "
        f"<= {checks.max_accuracy_drop:g} ({production.labels:.0f} and {canary.labels:.0f} labels)",
    )


def skipped(checks: list[CheckResult]) -> list[str]:
    """'accuracy_drop skipped: canary 12 labels < 30' for each skipped check."""
    return [f"{r.name} {r.condition}" for r in checks if r.phase == SKIPPED]


def measure(canary: Signals, production: Signals, checks: Checks, min_requests: int) -> Measurement:
    """One measurement: every check, then its phase (any Failed > too few requests > Inconclusive)."""
    results = [
        _check(
            "error_rate",
            canary.error_rate,
            checks.max_error_rate,
            f"canary 5xx share <= {checks.max_error_rate:g}",
        )
    ]
    if canary.latency_p95 is None or production.latency_p95 is None:
        results.append(_check("latency_p95", None, 0.0, "canary p95 <= production p95 x ratio + slack"))
    else:
        bar = production.latency_p95 * checks.max_latency_ratio + checks.latency_slack
        results.append(
            _check(
                "latency_p95",
                canary.latency_p95,
                round(bar, 6),
                f"canary p95 {canary.latency_p95 * 1000:.1f} ms <= production p95 "
                f"{production.latency_p95 * 1000:.1f} ms x {checks.max_latency_ratio:g} + "
                f"{checks.latency_slack * 1000:.0f} ms = {bar * 1000:.1f} ms",
            )
        )
    results.append(
        _check(
            "class_divergence",
            jensen_shannon(canary.classes, production.classes),
            checks.max_class_divergence,
            f"Jensen-Shannon divergence (base 2) of the class mix vs production <= {checks.max_class_divergence:g}",
        )
    )
    drop = (
        None
        if canary.confidence_mean is None or production.confidence_mean is None
        else production.confidence_mean - canary.confidence_mean
    )
    results.append(
        _check(
            "confidence_drop",
            drop,
            checks.max_confidence_drop,
            f"production mean top-1 probability - canary's <= {checks.max_confidence_drop:g}",
        )
    )
    results.append(_accuracy_check(canary, production, checks))
    failed = [r for r in results if r.phase == FAILED]
    few = [
        f"{env} answered {n:.0f} < {min_requests} requests"
        for env, n in ((names.CANARY, canary.requests), (names.PRODUCTION, production.requests))
        if n < min_requests
    ]
    if few:
        # Too little traffic to judge: never a pass, and not a failure either.
        return Measurement(INCONCLUSIVE, "; ".join(few), results, canary, production)
    if failed:
        reason = "; ".join(f"{r.name} {r.value:g} > {r.threshold:g}" for r in failed)
        return Measurement(FAILED, reason, results, canary, production)
    unknown = [r.name for r in results if r.phase == INCONCLUSIVE]
    if unknown:
        return Measurement(INCONCLUSIVE, "no data for " + ", ".join(unknown), results, canary, production)
    # A skipped check is named in the reason: a pass without it is never a silent one.
    return Measurement(SUCCESSFUL, "; ".join(["every check passed", *skipped(results)]), results, canary, production)


@dataclass
class Tally:
    """Counts of an analysis so far and what they mean under the plan's limits."""

    failure_limit: int
    inconclusive_limit: int
    failed: int = 0
    inconclusive: int = 0

    def add(self, phase: str) -> str | None:
        """Count a measurement; ABORT or PAUSE once a limit is exceeded, else None."""
        if phase == FAILED:
            self.failed += 1
            if self.failed > self.failure_limit:
                return ABORT
        elif phase == INCONCLUSIVE:
            self.inconclusive += 1
            if self.inconclusive > self.inconclusive_limit:
                return PAUSE
        return None


def format_measurement(step: int, index: int, m: Measurement) -> list[str]:
    """The lines printed for one measurement: phase, why, and every value that decided it."""
    c, p = m.canary, m.production
    lines = [
        f"  step {step:>3}% measurement {index}: {m.phase} ({m.reason})",
        f"      requests canary {c.requests:.0f}, production {p.requests:.0f}; "
        f"labels canary {c.labels:.0f}, production {p.labels:.0f}",
    ]
    for r in m.checks:
        value = "-" if r.phase == SKIPPED else "no data" if r.value is None else f"{r.value:.4g}"
        lines.append(f"      {r.name:17} {value:>9}  {r.phase:12} {r.condition}")
    return lines
