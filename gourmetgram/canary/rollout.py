"""The step loop, the same for both targets: move the gateway, wait an interval, measure, decide.

    for each weight step below 100: set the weight; measure every interval until a
    measurement is Successful (next step), the failures exceed the failure limit (abort)
    or the inconclusive ones exceed the inconclusive limit (pause)
    then weight 100 and promote (canary -> production, alias moved) and the usual split

abort: canary weight 0 at once, the verdict recorded, then the target's `restore_canary`
(the canary environment back on its last known-good version, alias canary back);
production is never touched. pause: the gateway back to the values' split, for a person.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gourmetgram import names, values
from gourmetgram.canary import decide, record
from gourmetgram.canary.gateways import Gateway, step_weights
from gourmetgram.canary.plan import Plan
from gourmetgram.canary.signals import Prometheus, PrometheusError, window_signals


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_known_good(registry, candidate: int, production_version: int | None) -> int | None:
    """Where the canary goes back after an abort: the newest other version the analysis
    promoted, else what production serves (it passed everything to get there)."""
    for v in sorted(registry.versions(), reverse=True):
        if v != candidate and registry.tags(v).get(record.VERDICT_TAG) == decide.PROMOTE:
            return v
    return production_version


@dataclass
class Rollout:
    plan: Plan
    prometheus: Prometheus
    gateway: Gateway
    registry: object  # gourmetgram.lifecycle.registry.Registry
    version: int
    production_version: int
    promote: Callable[[], None]  # canary -> production on the target, alias moved
    restore_canary: Callable[[int | None], None]  # canary env back on this version (None: leave it)
    say: Callable[[str], None] = print
    scrape_lag: float = 1.5  # the window ends this long before the query: its samples are in
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    # Locally the promotion is done when promote() returns, so the split goes back at once; on
    # the cluster the workflow promotes after this process and restores the split itself.
    restore_split_after_promote: bool = True
    report: dict = field(default_factory=dict)

    def run(self) -> dict:
        p = self.plan
        self.report = {
            "version": self.version,
            "model_version": names.version_string(self.version),
            "production_version": self.production_version,
            "plan": p.as_dict(),
            "started_at": _now(),
            "steps": [],
        }
        self.say(
            f"canary analysis of {names.version_string(self.version)} against production "
            f"{names.version_string(self.production_version)}: steps {'->'.join(map(str, p.steps))}, "
            f"interval {p.interval:g}s, min {p.min_requests} requests, failure limit {p.failure_limit}, "
            f"inconclusive limit {p.inconclusive_limit}"
        )
        try:
            verdict, reason = self._steps()
        except BaseException:
            # Interrupted before any verdict (Ctrl-C, the gateway or MLflow failing): the canary must
            # not stay at a raised weight nobody watches. Back to the values' split, then re-raise.
            try:
                self.gateway.set_weights(values.route_weights())
                self.say("    analysis interrupted: gateway back to the values' split")
            except Exception as exc:  # the original error matters more
                self.say(f"    analysis interrupted; could not reset the gateway split: {exc}")
            raise
        return self._finish(verdict, reason)

    def _steps(self) -> tuple[str, str]:
        """Walk the weight steps; (verdict, reason) once one is reached."""
        p = self.plan
        tally = decide.Tally(p.failure_limit, p.inconclusive_limit)
        # Checks skipped in a step's passing measurement (too few labels): named in the verdict's reason.
        not_judged: dict[str, tuple[list[int], str]] = {}
        for weight in p.steps[:-1]:
            self._set(weight)
            step = {"weight": weight, "measurements": []}
            self.report["steps"].append(step)
            while True:
                self.sleep(p.interval + self.scrape_lag)
                end = self.clock() - self.scrape_lag
                try:
                    sig = window_signals(
                        self.prometheus,
                        p.interval,
                        end,
                        {names.CANARY: self.version, names.PRODUCTION: self.production_version},
                    )
                    m = decide.measure(sig[names.CANARY], sig[names.PRODUCTION], p.checks, p.min_requests)
                except PrometheusError as exc:
                    # Nothing measured is never a pass: an inconclusive measurement (pause at the limit).
                    m = decide.Measurement(decide.INCONCLUSIVE, str(exc), [], decide.Signals(), decide.Signals())
                step["measurements"].append({"window_end": end, **m.as_dict()})
                for line in decide.format_measurement(weight, len(step["measurements"]), m):
                    self.say(line)
                verdict = tally.add(m.phase)
                if verdict:
                    limit = p.failure_limit if verdict == decide.ABORT else p.inconclusive_limit
                    what = "failed" if verdict == decide.ABORT else "inconclusive"
                    count = tally.failed if verdict == decide.ABORT else tally.inconclusive
                    reason = f"{count} {what} measurements > limit {limit} at {weight}%; last: {m.reason}"
                    return verdict, reason
                if m.phase == decide.SUCCESSFUL:
                    for c in m.checks:
                        if c.phase == decide.SKIPPED:
                            not_judged[c.name] = ([*not_judged.get(c.name, ([], ""))[0], weight], c.condition)
                    break
        self._set(p.steps[-1])
        reason = f"every check passed at {', '.join(f'{w}%' for w in p.steps[:-1])}"
        notes = [
            f"{name} not judged at {', '.join(f'{w}%' for w in weights)} ({last})"
            for name, (weights, last) in not_judged.items()
        ]
        return decide.PROMOTE, "; ".join([reason, *notes])

    def _set(self, weight: int) -> None:
        t = time.monotonic()
        self.gateway.set_weights(step_weights(weight))
        self.say(f"==> canary weight {weight}% (gateway serves it after {time.monotonic() - t:.1f}s)")

    def _finish(self, verdict: str, reason: str) -> dict:
        r = self.report
        r.update(verdict=verdict, reason=reason, verdict_at=_now())
        verdict_t = time.monotonic()
        self.say(f"VERDICT {verdict.upper()} for {names.version_string(self.version)}: {reason}")
        if verdict == decide.ABORT:
            self.gateway.set_weights(step_weights(0))
            r["weight_zero_after_s"] = round(time.monotonic() - verdict_t, 3)
            self.say(f"    canary weight 0 after {r['weight_zero_after_s']:.2f}s; production untouched")
            good = last_known_good(self.registry, self.version, self.production_version)
            r["restored_canary_version"] = good
        elif verdict == decide.PAUSE:
            self.gateway.set_weights(values.route_weights())
            self.say("    paused for a person: gateway back to the values' split; nothing promoted")
        r["tally"] = {"totals": [len(s["measurements"]) for s in r["steps"]]}
        uri = record.store(self.registry, r)
        self.say(f"    verdict stored on {names.MODEL_NAME} version {self.version}: tags + {uri}")
        if verdict == decide.ABORT:
            self.restore_canary(r["restored_canary_version"])
        elif verdict == decide.PROMOTE:
            self.promote()
            if self.restore_split_after_promote:
                self.gateway.set_weights(values.route_weights())
                self.say("    gateway back to the values' split")
        return r
