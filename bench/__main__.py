"""python -m bench: measure serving, tuning, gateway, lifecycle and training; write results.

python -m bench                      everything (about 10-15 minutes on 2 cores)
python -m bench --parts serving      only some parts; the others keep their last results
python -m bench --duration 4         shorter load runs (each run is also capped in requests)
python -m bench --parts canary-analysis  p95 with and without Prometheus scraping; canary deployed -> promoted
python -m bench --parts capture      p95 of /predict with the feedback capture on vs off
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import report

PARTS = ("serving", "tuning", "gateway", "lifecycle", "training", "canary-analysis", "capture")


def say(msg: str) -> None:
    print(msg, flush=True)


def machine_info() -> dict:
    import onnxruntime
    import torch

    cpu_model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run (default 8)")
    parser.add_argument("--max-requests", type=int, default=5000, help="request cap per load run (default 5000)")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a fresh temp dir)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")

    # A timeout or `kill` must still run the cleanup (servers stopped, local.down): finally blocks
    # run on SystemExit, not on the default SIGTERM death.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    work = args.work or Path(tempfile.mkdtemp(prefix="gourmetgram-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"bench: parts {', '.join(parts)}; scratch and server logs in {work}")

    results = report.load_previous()
    results["machine"] = machine_info()
    failures: list[str] = []
    started = time.monotonic()
    for part in parts:
        if part == "gateway" and "lifecycle" in parts:
            continue  # measured on the lifecycle's platform, below
        say(f"\n=== {part}")
        t0 = time.monotonic()
        try:
            results.update(run_part(part, work, args, parts))
        except Exception as exc:  # one part failing must not lose the others' numbers
            traceback.print_exc()
            failed_parts = [part] + (["gateway"] if part == "lifecycle" and "gateway" in parts else [])
            for p in failed_parts:
                results[p] = {"error": f"{type(exc).__name__}: {exc}"}
            failures.extend(failed_parts)
        say(f"=== {part}: {time.monotonic() - t0:.0f} s")
        report.write_json(results)

    table = report.write_markdown(results)
    charts = report.write_charts(results)
    say("\n" + table)
    say(f"wrote {report.RESULTS_JSON}, {report.RESULTS_MD}, " + ", ".join(str(c) for c in charts))
    say(
        f"bench finished in {time.monotonic() - started:.0f} s"
        + (f"; FAILED: {', '.join(failures)}" if failures else "")
    )
    return 1 if failures else 0


def run_part(part: str, work: Path, args, parts: list[str]) -> dict:
    """Results of one part as {part: ...} (the lifecycle part also measures the gateway on its platform)."""
    if part == "serving":
        from bench.serving import run_serving

        return {part: run_serving(work, args.duration, args.max_requests, say)}
    if part == "tuning":
        from bench.serving import run_tuning

        return {part: run_tuning(work, args.duration, args.max_requests, say)}
    if part == "training":
        from bench.training import run_training

        return {part: run_training(say)}
    if part == "canary-analysis":
        from bench.canary_bench import run_canary

        return {part: run_canary(work, args.duration, args.max_requests, say)}
    if part == "capture":
        from bench.capture_bench import run_capture

        return {part: run_capture(work, args.duration, args.max_requests, say)}
    if part in ("lifecycle", "gateway"):
        from bench.platform_bench import run_platform

        return run_platform(work, parts, args.duration, args.max_requests, say)
    raise ValueError(part)


if __name__ == "__main__":
    sys.exit(main())
