"""Capture overhead: POST /predict with capture on (GG_CAPTURE_DIR) vs off, same app, same image.

Two gunicorn apps as deployed (app/gunicorn.conf.py defaults), one with the capture's
default settings (sample 2 %, low-confidence threshold 0.5, recent window 200, 256 MiB
cap), one without. The bench model is untrained, so nearly every prediction is below
the threshold: every image is kept, the worst case for the capture. wrk at concurrency
4, interleaved rounds (off, on, off, on, ...), medians; then the store's size and row count.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from app import capture_store
from bench.load import run_wrk
from bench.models import bench_jpeg, prepare_model
from bench.serving import app_server, warm_up

CONCURRENCY = 4
MODES = ("capture off", "capture on")


def run_capture(work: Path, duration_s: float, max_requests: int, say: Callable, rounds: int = 3) -> dict:
    model = prepare_model(work)
    image = bench_jpeg(work / "food.jpg")
    capture_dir = work / "capture"
    settings = {MODES[0]: None, MODES[1]: {"GG_CAPTURE_DIR": str(capture_dir)}}
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    with (
        app_server(model, work, settings[MODES[0]], log_name="capture-off") as off,
        app_server(model, work, settings[MODES[1]], log_name="capture-on") as on,
    ):
        servers = {MODES[0]: off, MODES[1]: on}
        for server in servers.values():
            warm_up(server.url, image)
        for round_no in range(1, rounds + 1):
            for mode in MODES:
                cpu0 = servers[mode].cpu_seconds()
                r = run_wrk(f"{servers[mode].url}/predict", image, CONCURRENCY, duration_s, max_requests).as_dict()
                time.sleep(0.5)  # the writer thread's last batch counts too
                r["cpu_ms_per_request"] = round((servers[mode].cpu_seconds() - cpu0) * 1000 / max(r["requests"], 1), 2)
                runs[mode].append(r)
                say(
                    f"  round {round_no} {mode:11}  {r['rps']:7.1f} req/s  "
                    f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  cpu {r['cpu_ms_per_request']:5.2f} ms/req"
                )
        time.sleep(1.0)  # the writer threads finish their queues
    out: dict = {"concurrency": CONCURRENCY, "rounds": rounds, "image_bytes": image.stat().st_size}
    for mode in MODES:
        out[mode] = {
            k: round(statistics.median(r[k] for r in runs[mode]), 2)
            for k in ("rps", "p50_ms", "p95_ms", "cpu_ms_per_request")
        }
        out[mode]["errors"] = sum(r["errors"] for r in runs[mode])
        out[mode]["requests"] = sum(r["requests"] for r in runs[mode])
    on_p95, off_p95 = out[MODES[1]]["p95_ms"], out[MODES[0]]["p95_ms"]
    out["p95_overhead_ms"] = round(on_p95 - off_p95, 2)
    out["p95_ratio"] = round(on_p95 / off_p95, 3) if off_p95 else None
    # CPU per request: what capture costs on dedicated cores; a shared machine skews latency far more.
    out["cpu_overhead_ms_per_request"] = round(
        out[MODES[1]]["cpu_ms_per_request"] - out[MODES[0]]["cpu_ms_per_request"], 2
    )
    db = sqlite3.connect(capture_dir / capture_store.DB_NAME)
    rows, kept, used = db.execute(
        "SELECT COUNT(*), COUNT(image_path), (SELECT bytes FROM usage) FROM predictions"
    ).fetchone()
    db.close()
    out["store"] = {"rows": rows, "images_kept": kept, "image_bytes": used}
    say(
        f"  p95 capture on {on_p95} ms vs off {off_p95} ms (x{out['p95_ratio']}); "
        f"CPU +{out['cpu_overhead_ms_per_request']} ms/request; "
        f"store: {rows} rows for {out[MODES[1]]['requests']} requests, {kept} images, {used} bytes"
    )
    return out


def capture_md(part: dict) -> list[str]:
    lines = [
        "## Capture overhead (GG_CAPTURE_DIR on vs off)",
        "",
        f"POST /predict, concurrency {part['concurrency']}, median of {part['rounds']} interleaved rounds; "
        f"p95 overhead {part['p95_overhead_ms']} ms (x{part['p95_ratio']}), CPU overhead "
        f"{part.get('cpu_overhead_ms_per_request', '?')} ms per request. Store after the run: "
        f"{part['store']['rows']} rows, {part['store']['images_kept']} images, {part['store']['image_bytes']} bytes.",
        "",
        "| capture | req/s | p50 ms | p95 ms | CPU ms/req | errors |",
        "|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        r = part[mode]
        lines.append(
            f"| {mode} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r.get('cpu_ms_per_request', '?')} "
            f"| {r['errors']} |"
        )
    return lines
