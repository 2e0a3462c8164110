"""Drive HTTP load with wrk (Debian package) and a Lua script that POSTs a JPEG as multipart.

Every run is bounded twice: by wrk's duration and by a maximum request count.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_post.lua")


class LoadToolError(RuntimeError):
    """wrk is missing or its output could not be read."""


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    # Server CPU time per request (user + system, all processes and threads): unlike req/s it
    # hardly depends on what else runs on the machine. None where not measured.
    cpu_ms_per_request: float | None = None
    error_kinds: dict | None = None  # wrk's split: connect / read / write / status (non-2xx/3xx) / timeout

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_binary() -> str:
    path = shutil.which("wrk")
    if not path:
        raise LoadToolError("wrk not found: install the Debian package (./lab setup, or apt-get install wrk)")
    return path


def run_wrk(
    url: str,
    image: Path,
    concurrency: int,
    duration_s: float = 10.0,
    max_requests: int = 2000,
    timeout_s: float = 30.0,
) -> LoadResult:
    """POST `image` to `url` with `concurrency` open connections; percentiles from wrk's histogram."""
    threads = max(1, min(concurrency, 2))
    env = dict(
        os.environ,
        GG_BENCH_IMAGE=str(image),
        GG_BENCH_MAX_PER_THREAD=str(math.ceil(max_requests / threads)),
    )
    cmd = [
        wrk_binary(),
        f"--threads={threads}",
        f"--connections={concurrency}",
        f"--duration={max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        f"--script={LUA_SCRIPT}",
        url,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("GGBENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise LoadToolError(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    raw = json.loads(line.removeprefix("GGBENCH "))
    lat = raw["latency_us"]
    duration_s = raw["duration_us"] / 1e6
    return LoadResult(
        concurrency=concurrency,
        requests=raw["requests"],
        errors=sum(raw["errors"].values()),
        duration_s=round(duration_s, 3),
        rps=round(raw["requests"] / duration_s, 2) if duration_s else 0.0,
        p50_ms=round(lat["p50"] / 1000, 2),
        p95_ms=round(lat["p95"] / 1000, 2),
        p99_ms=round(lat["p99"] / 1000, 2),
        mean_ms=round(lat["mean"] / 1000, 2),
        max_ms=round(lat["max"] / 1000, 2),
        error_kinds={k: v for k, v in raw["errors"].items() if v} or None,
    )
