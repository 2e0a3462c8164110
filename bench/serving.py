"""Serving benchmarks: (a) our app as deployed, (b) the reference baseline, (c) onnxruntime alone.

(a) and (b) are real HTTP servers on free loopback ports, driven by wrk with the same
JPEG; (c) runs in this process without HTTP. Every run is bounded by time and count.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from bench.load import LoadResult, run_wrk
from bench.models import BenchModel, bench_jpeg, prepare_model
from bench.ort_limit import batching_gain, run_ort_limit
from bench.procs import Server, free_port
from gourmetgram import names

REPO_ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = (1, 4, 16)


def app_server(model: BenchModel, work: Path, settings: dict[str, int] | None = None, log_name: str = "app") -> Server:
    """Our app exactly as deployed: gunicorn with app/gunicorn.conf.py; settings override GG_* env."""
    port = free_port()
    versions = work / "versions.txt"
    versions.write_text(names.version_string(1) + "\n")
    env = {"GG_MODEL_DIR": str(model.model_dir), "GG_VERSION_FILE": str(versions), "GG_LOG_LEVEL": "warning"}
    env.update({k: str(v) for k, v in (settings or {}).items()})
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(REPO_ROOT / "app" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "app.app:create_app()",
    ]
    url = f"http://127.0.0.1:{port}"
    return Server("app (gunicorn)", cmd, url, "/readyz", work / f"{log_name}.log", env, REPO_ROOT)


def reference_server(model: BenchModel, work: Path) -> Server:
    """The reference baseline: Flask dev server, whole torch model, uploads saved to disk."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.reference_app.app",
        "--model",
        str(model.torch_whole),
        "--uploads",
        str(work / "reference_uploads"),
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    return Server("reference (Flask dev + torch)", cmd, url, "/healthz", work / "reference.log", cwd=REPO_ROOT)


def warm_up(url: str, image: Path, seconds: float = 3.0, max_n: int = 50) -> None:
    """First requests load lazily (kernels, caches, thread pools); keep them out of the measurement."""
    data = image.read_bytes()
    deadline = time.monotonic() + seconds
    for i in range(max_n):
        r = requests.post(f"{url}/predict", files={"file": ("food.jpg", data, "image/jpeg")}, timeout=60)
        r.raise_for_status()
        if i >= 2 and time.monotonic() > deadline:
            return


def measure_http(
    url: str,
    image: Path,
    concurrencies: Iterable[int],
    duration_s: float,
    max_requests: int,
    progress: Callable,
    server: Server | None = None,
) -> list[LoadResult]:
    warm_up(url, image)
    results = []
    for c in concurrencies:
        cpu0 = server.cpu_seconds() if server else 0.0
        r = run_wrk(f"{url}/predict", image, c, duration_s=duration_s, max_requests=max_requests)
        if server and r.requests:
            r = dataclasses.replace(r, cpu_ms_per_request=round((server.cpu_seconds() - cpu0) * 1000 / r.requests, 2))
        cpu = f"  cpu {r.cpu_ms_per_request:6.1f} ms/req" if r.cpu_ms_per_request else ""
        progress(
            f"  c={c:<3} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  errors {r.errors}{cpu}"
        )
        results.append(r)
    return results


def measure_ort_limit(
    model: BenchModel, concurrencies: Iterable[int], duration_s: float, max_requests: int, progress: Callable
) -> tuple[list[LoadResult], dict]:
    """Best of 1 and 2 intra-op threads at each concurrency (the limit is the best the runtime can do)."""
    best, detail = [], {}
    for c in concurrencies:
        runs = {
            t: run_ort_limit(
                model.model_dir / "model.onnx", model.input_size, c, duration_s, max_requests, intra_op_threads=t
            )
            for t in (1, 2)
        }
        detail[str(c)] = {f"intra_op_threads={t}": r.as_dict() for t, r in runs.items()}
        top = max(runs.values(), key=lambda r: r.rps)
        progress(f"  c={c:<3} {top.rps:8.1f} inf/s  p50 {top.p50_ms:7.1f} ms  p99 {top.p99_ms:7.1f} ms")
        best.append(top)
    return best, detail


# Serving settings tried by the tuning part: gunicorn workers x threads, onnxruntime intra-op threads.
TUNING_GRID = (
    {"GG_WORKERS": 1, "GG_THREADS": 1, "GG_ORT_THREADS": 2},
    {"GG_WORKERS": 1, "GG_THREADS": 4, "GG_ORT_THREADS": 2},
    {"GG_WORKERS": 2, "GG_THREADS": 1, "GG_ORT_THREADS": 1},
    {"GG_WORKERS": 2, "GG_THREADS": 2, "GG_ORT_THREADS": 1},
    {"GG_WORKERS": 2, "GG_THREADS": 2, "GG_ORT_THREADS": 2},
    {"GG_WORKERS": 2, "GG_THREADS": 4, "GG_ORT_THREADS": 1},
    {"GG_WORKERS": 4, "GG_THREADS": 1, "GG_ORT_THREADS": 1},
)
TUNING_CONCURRENCY = (4, 16)


def deployed_settings() -> dict[str, int]:
    """The serving settings our app runs with when no GG_* override is set (app/gunicorn.conf.py defaults)."""
    import runpy

    from app import inference

    saved = dict(os.environ)
    for key in ("GG_WORKERS", "GG_THREADS", inference.ORT_THREADS_ENV):
        os.environ.pop(key, None)
    try:
        conf = runpy.run_path(str(REPO_ROOT / "app" / "gunicorn.conf.py"))
        ort_threads = int(conf.get("ort_threads", inference.DEFAULT_ORT_THREADS))
    finally:  # the config file sets environment variables for its workers; not for this process
        os.environ.clear()
        os.environ.update(saved)
    return {"GG_WORKERS": conf["workers"], "GG_THREADS": conf["threads"], "GG_ORT_THREADS": ort_threads}


def run_serving(work: Path, duration_s: float, max_requests: int, say: Callable) -> dict:
    model = prepare_model(work)
    image = bench_jpeg(work / "food.jpg")
    out: dict = {"image_bytes": image.stat().st_size, "app_settings": deployed_settings()}
    # (a) exactly as deployed: no GG_* overrides, so gunicorn.conf.py's defaults apply.
    say("(a) our app as deployed: gunicorn + onnxruntime")
    with app_server(model, work, settings=None) as server:
        rs = measure_http(server.url, image, CONCURRENCY, duration_s, max_requests, say, server)
        out["app"] = [r.as_dict() for r in rs]
    say("(b) reference baseline: Flask dev server, whole torch model, uploads saved to disk")
    with reference_server(model, work) as server:
        out["reference"] = [
            r.as_dict() for r in measure_http(server.url, image, CONCURRENCY, duration_s, max_requests, say, server)
        ]
    say("(c) limit: onnxruntime alone on preprocessed input, one process")
    limit, detail = measure_ort_limit(model, CONCURRENCY, duration_s, max_requests, say)
    out["ort_limit"] = [r.as_dict() for r in limit]
    out["ort_limit_detail"] = detail
    out["batching_cpu_ms_per_image"] = batching_gain(model.model_dir / "model.onnx", model.input_size)
    say(f"  batching (CPU ms per image by batch size): {out['batching_cpu_ms_per_image']}")
    out["ratios"] = {
        "a_over_b": _ratios(out["app"], out["reference"]),
        "a_over_c": _ratios(out["app"], out["ort_limit"]),
        # The same ratios from CPU time per request: the capacity on dedicated cores, which a
        # machine shared with other work does not skew the way it skews req/s.
        "a_over_b_cpu": _cpu_ratios(out["app"], out["reference"]),
        "a_over_c_cpu": _cpu_ratios(out["app"], out["ort_limit"]),
    }
    return out


def _ratios(num: list[dict], den: list[dict]) -> dict[str, float | None]:
    by_c = {r["concurrency"]: r["rps"] for r in den}
    return {
        str(r["concurrency"]): (round(r["rps"] / by_c[r["concurrency"]], 3) if by_c.get(r["concurrency"]) else None)
        for r in num
    }


def _cpu_ratios(num: list[dict], den: list[dict]) -> dict[str, float | None]:
    """Capacity ratio num/den = den's CPU per request over num's, per concurrency."""
    by_c = {r["concurrency"]: r.get("cpu_ms_per_request") for r in den}
    out = {}
    for r in num:
        a, b = r.get("cpu_ms_per_request"), by_c.get(r["concurrency"])
        out[str(r["concurrency"])] = round(b / a, 3) if a and b else None
    return out


def run_tuning(work: Path, duration_s: float, max_requests: int, say: Callable, rounds: int = 2) -> dict:
    """Every setting of TUNING_GRID, `rounds` times interleaved (so slow drift in the machine's load
    hits every setting alike); the mean of the rounds is reported."""
    model = prepare_model(work)
    image = bench_jpeg(work / "food.jpg")
    raw: dict[int, list[list[dict]]] = {i: [] for i in range(len(TUNING_GRID))}
    errors: dict[int, str] = {}
    for round_no in range(1, rounds + 1):
        for i, settings in enumerate(TUNING_GRID):
            say(f"round {round_no}/{rounds}: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
            try:
                with app_server(model, work, settings=settings, log_name=f"tuning-{i}") as server:
                    rs = measure_http(server.url, image, TUNING_CONCURRENCY, duration_s, max_requests, say, server)
                raw[i].append([r.as_dict() for r in rs])
            except Exception as exc:
                errors[i] = f"{type(exc).__name__}: {exc}"
                say(f"  failed: {errors[i]}")
    runs = []
    for i, settings in enumerate(TUNING_GRID):
        entry: dict = {"settings": settings, "rounds": len(raw[i])}
        if raw[i]:
            entry["results"] = [_mean_result([rnd[j] for rnd in raw[i]]) for j in range(len(TUNING_CONCURRENCY))]
        if i in errors:
            entry["error"] = errors[i]
        runs.append(entry)
    measured = [r for r in runs if "results" in r]

    def at(run: dict, c: int, key: str) -> float:
        return next(x[key] for x in run["results"] if x["concurrency"] == c) or 0.0

    best = max(measured, key=lambda r: at(r, 4, "rps"), default=None)
    leanest = min(measured, key=lambda r: at(r, 4, "cpu_ms_per_request") or float("inf"), default=None)
    return {
        "runs": runs,
        "best_at_c4": best["settings"] if best else None,
        "least_cpu_per_request_at_c4": leanest["settings"] if leanest else None,
        "deployed": deployed_settings(),
    }


def _mean_result(results: list[dict]) -> dict:
    out = dict(results[0])
    for key in ("requests", "errors"):
        out[key] = sum(r[key] for r in results)
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "cpu_ms_per_request"):
        vals = [r[key] for r in results if r.get(key) is not None]
        out[key] = round(sum(vals) / len(vals), 2) if vals else None
    return out
