"""Monitoring cost and canary analysis time, on one real local platform in a scratch state dir.

scraping     POST /predict p95 on the production entry with Prometheus scraping every
             environment each second (the local, CI-sized interval) vs Prometheus stopped;
             interleaved rounds; plus the time of one GET /metrics
canary       "canary deployed" (a new version serves in canary) -> "promoted" (production
             serves it) with the CI-sized local plan and the built-in load generator, per step
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.load import run_wrk
from bench.models import bench_jpeg
from bench.serving import warm_up
from gourmetgram import names

CONCURRENCY = 4


def _metrics_ms(url: str, n: int = 40) -> float:
    times = []
    with requests.Session() as s:
        for _ in range(n):
            t = time.perf_counter()
            s.get(f"{url}/metrics", timeout=10).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def _prometheus(p, on: bool) -> None:
    """Start or stop the platform's Prometheus (supervisord), whatever its state now."""
    import xmlrpc.client

    from gourmetgram.local import prometheus

    rpc = p.supervisor.rpc().supervisor
    try:
        (rpc.startProcess if on else rpc.stopProcess)(prometheus.PROGRAM)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString and "NOT_RUNNING" not in fault.faultString:
            raise
    if on:
        prometheus.wait_ready(p.state, p.settings)


def run_canary(work: Path, duration_s: float, max_requests: int, say: Callable, rounds: int = 3) -> dict:
    from gourmetgram.canary import plan
    from gourmetgram.lifecycle.steps import Lifecycle
    from gourmetgram.local import operations
    from gourmetgram.local.platform import LocalPlatform
    from gourmetgram.local.state import PlatformLock, Ports
    from gourmetgram.proc_helpers import free_port

    state = work / "canary-state"
    if state.exists():
        shutil.rmtree(state)
    p = LocalPlatform(state, say=lambda line: None)
    from bench.__main__ import machine_info

    # Its own date and load: this part is often run alone, beside older numbers of the others.
    out: dict = {
        "plan": plan.from_values(local=True).as_dict(),
        "concurrency": CONCURRENCY,
        "rounds": rounds,
        "machine": machine_info(),
    }
    try:
        operations.up(p, ports=Ports.pick(free_port))
        say("  platform up; training the base version")
        base = operations.train(p).version
        operations.promote(p, names.CANARY, names.PRODUCTION, base)
        image = bench_jpeg(work / "food.jpg")
        url = p.url(names.PRODUCTION)
        warm_up(url, image)
        out["metrics_get_ms"] = _metrics_ms(url)
        say(f"  GET /metrics median {out['metrics_get_ms']} ms")
        raw: dict[str, list[dict]] = {"scraping": [], "no scraping": []}
        for round_no in range(1, rounds + 1):
            for mode in raw:
                _prometheus(p, on=mode == "scraping")
                r = run_wrk(f"{url}/predict", image, CONCURRENCY, duration_s=duration_s, max_requests=max_requests)
                say(f"    round {round_no} {mode:12} {r.rps:7.1f} req/s  p50 {r.p50_ms:6.2f}  p95 {r.p95_ms:6.2f} ms")
                raw[mode].append(r.as_dict())
        _prometheus(p, on=True)
        for mode, runs in raw.items():
            out[mode] = {k: round(statistics.median(r[k] for r in runs), 2) for k in ("rps", "p50_ms", "p95_ms")}
            out[mode]["errors"] = sum(r["errors"] for r in runs)

        # A candidate: the base artifact registered again, released to canary, then analysed.
        reg = p.registry()
        mv = reg.version(base)
        n = int(reg._client.create_model_version(names.MODEL_NAME, mv.source, run_id=mv.run_id).version)
        with PlatformLock(p.state, "bench release"):
            Lifecycle(p.target, reg, say=lambda line: None).release(n)
        deployed = time.monotonic()
        lines: list[tuple[float, str]] = []
        p.say = lambda line: lines.append((time.monotonic() - deployed, line))
        report = operations.canary(p, n)
        promoted = time.monotonic() - deployed
        out["rollout"] = {
            "verdict": report["verdict"],
            "deployed_to_promoted_s": round(promoted, 2),
            "measurements": sum(len(s["measurements"]) for s in report["steps"]),
            "load": report.get("load", {}),
            "timeline": [(round(t, 2), line) for t, line in lines if line.startswith(("==>", "VERDICT"))],
        }
        say(f"  canary deployed -> {report['verdict']} in {promoted:.1f} s")
    finally:
        try:
            operations.down(p)
        finally:
            shutil.rmtree(state, ignore_errors=True)
    return out


def canary_md(part: dict) -> list[str]:
    lines = ["## Monitoring cost and canary analysis (local platform, CI-sized plan)", ""]
    m = part.get("machine")
    if m:
        lines += [f"Measured {m.get('date', '?')}, load average before the part {m.get('loadavg', '?')}.", ""]
    if "scraping" in part:
        lines += [
            f"POST /predict on the production entry, concurrency {part['concurrency']}, median of "
            f"{part['rounds']} interleaved rounds; Prometheus scrapes every second when on. "
            f"One GET /metrics: {part.get('metrics_get_ms', '?')} ms (median).",
            "",
            "| Prometheus | req/s | p50 ms | p95 ms | errors |",
            "|---|---|---|---|---|",
        ]
        for mode in ("scraping", "no scraping"):
            r = part[mode]
            lines.append(f"| {mode} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['errors']} |")
        lines.append("")
    c = part.get("rollout")
    if c:
        pl = part["plan"]
        lines += [
            f"Canary deployed -> {c['verdict']}: **{c['deployed_to_promoted_s']} s** "
            f"(steps {pl['steps']}, interval {pl['interval']} s, {c['measurements']} measurements; "
            f"load {c['load'].get('requests', '?')} requests, non-2xx {c['load'].get('non_2xx', '?')}).",
        ]
    return lines
