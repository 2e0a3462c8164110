"""The canary plan, read from the platform values (k8s/platform/values.yaml, block `canary`)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from gourmetgram import values
from gourmetgram.errors import GourmetGramError


class PlanError(GourmetGramError, ValueError):
    """The canary values are not a usable plan; the message names the value."""


def seconds(text: str | int | float) -> float:
    """'60s', '5m', '4' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(text))
    if not m:
        raise PlanError(f"not a duration: {text!r} (e.g. 30s, 5m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


@dataclass(frozen=True)
class Checks:
    max_error_rate: float
    max_latency_ratio: float
    latency_slack: float
    max_class_divergence: float
    max_confidence_drop: float
    # Online accuracy from users' labels: compared only when canary and production each have
    # min_labels labels in the interval (else the check is skipped, and says so).
    min_labels: int
    max_accuracy_drop: float

    def __post_init__(self):
        if self.min_labels < 1 or not 0 <= self.max_accuracy_drop <= 1:
            raise PlanError(f"canary checks: minLabels must be >= 1 and maxAccuracyDrop in 0..1, got {asdict(self)}")


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...]
    interval: float
    min_requests: int
    failure_limit: int
    inconclusive_limit: int
    checks: Checks

    def __post_init__(self):
        if not self.steps or list(self.steps) != sorted(set(self.steps)) or self.steps[-1] != 100:
            raise PlanError(f"canary steps must rise strictly and end at 100, got {list(self.steps)}")
        if self.steps[0] <= 0:
            raise PlanError(f"the first canary step must be above 0, got {self.steps[0]}")
        if self.interval <= 0 or self.min_requests < 1 or self.failure_limit < 0 or self.inconclusive_limit < 0:
            raise PlanError(f"bad canary plan: {asdict(self)}")

    def as_dict(self) -> dict:
        return asdict(self)


def from_values(local: bool = False, **overrides) -> Plan:
    """The plan of the values; local=True takes the `local` timing (CI-sized intervals)."""
    raw = values.canary_values()
    if local:
        raw = {**raw, **{k: v for k, v in (raw.get("local") or {}).items() if k in ("interval", "minRequests")}}
    try:
        c = raw["checks"]
        plan = {
            "steps": tuple(int(s) for s in raw["steps"]),
            "interval": seconds(raw["interval"]),
            "min_requests": int(raw["minRequests"]),
            "failure_limit": int(raw["failureLimit"]),
            "inconclusive_limit": int(raw["inconclusiveLimit"]),
            "checks": Checks(
                float(c["maxErrorRate"]),
                float(c["maxLatencyRatio"]),
                float(c["latencySlack"]),
                float(c["maxClassDivergence"]),
                float(c["maxConfidenceDrop"]),
                int(c["minLabels"]),
                float(c["maxAccuracyDrop"]),
            ),
        }
    except KeyError as exc:
        raise PlanError(f"k8s/platform/values.yaml canary: missing {exc}") from None
    plan.update({k: v for k, v in overrides.items() if v is not None})
    return Plan(**plan)
