"""Soak: a few thousand requests through the gateway while a new version is released and promoted.

Zero failed requests allowed; the resident memory of every app process (gunicorn master +
workers) is sampled throughout and must stay flat once warm (a leak per request would show).
"""

from __future__ import annotations

import threading
import time

from gourmetgram import names

V = names.version_string
MIN_REQUESTS = 3000
AFTER_PROMOTION = 1000
# Warm processes may grow a little (allocator, caches); a per-request leak over thousands of uploads would not fit.
MAX_GROWTH_KIB = 40 * 1024
MAX_GROWTH_RATIO = 1.3
WARM_AFTER_S = 5.0


class MemorySampler:
    def __init__(self, harness, rss, interval: float = 0.5):
        self.harness, self.rss, self.interval = harness, rss, interval
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            for env, pids in self.harness.app_pids().items():
                try:
                    total = sum(self.rss(p) for p in pids)
                except (FileNotFoundError, ProcessLookupError):
                    continue  # a process went away between listing and reading
                key = f"{env}:{pids[0]}"
                self.samples.setdefault(key, []).append((time.monotonic() - start, total))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def _ensure_serving(h) -> None:
    """Production and canary must serve something before the soak (the module may run alone)."""
    plat = h.platform
    if plat.target.deployed_version(names.PRODUCTION) is None or plat.target.deployed_version(names.CANARY) is None:
        n = h.register()
        life = h.lifecycle()
        life.release(n)
        life.promote(names.CANARY, names.PRODUCTION, n)


def test_soak_through_the_gateway_with_a_promotion_in_the_middle(
    platform_harness, load_loop, wait, fault_report, rss_kib_fn
):
    h, plat = platform_harness, platform_harness.platform
    _ensure_serving(h)
    n = h.register()
    with MemorySampler(h, rss_kib_fn) as memory:
        load = load_loop(f"{plat.gateway_url}/predict", clients=4, max_requests=20000, max_seconds=300)
        wait(lambda: load.count() >= MIN_REQUESTS // 3, 120, what="the first third of the soak")
        promo_start = load.now()
        life = h.lifecycle()
        life.release(n)
        life.promote(names.CANARY, names.PRODUCTION, n)
        promo_end = load.now()
        done_at_promotion = load.count()
        target = max(MIN_REQUESTS, done_at_promotion + AFTER_PROMOTION)
        wait(lambda: load.count() >= target, 240, what=f"{target} requests")
        outcomes = load.stop()

    failures = [o for o in outcomes if not o.ok]
    growth = {}
    for key, series in memory.samples.items():
        warm = [kib for t, kib in series if t - series[0][0] >= WARM_AFTER_S]
        if len(warm) >= 4:
            growth[key] = (warm[0], max(warm), warm[-1])
    fault_report["soak through the gateway with a promotion"] = {
        "requests": len(outcomes),
        "failed": len(failures),
        "promotion_s": f"{promo_start:.1f}-{promo_end:.1f}",
        "rss_MiB(first warm, max, last)": {k: tuple(round(x / 1024, 1) for x in v) for k, v in growth.items()},
    }
    assert len(outcomes) >= MIN_REQUESTS
    assert not failures, f"{len(failures)} failed: {failures[:5]}"
    during = [o for o in outcomes if promo_start <= o.t <= promo_end]
    assert during, "no request was sent while the promotion ran"
    # The promotion took effect: the gateway now answers only the new version (canary and production).
    assert {h.served_version(plat.gateway_url) for _ in range(20)} == {V(n)}
    assert growth, "no app process was sampled long enough"
    for key, (first, peak, _last) in growth.items():
        assert peak - first <= MAX_GROWTH_KIB or peak <= first * MAX_GROWTH_RATIO, (key, first, peak)
