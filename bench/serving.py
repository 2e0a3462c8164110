"""Serving benchmarks: (a) our app as deployed, (b) the reference baseline, (c) onnxruntime alone.

(a) and (b) are real HTTP servers on free loopback ports, driven by wrk with the same
JPEG; (c) runs in this process without HTTP. Every run is bounded by time and count.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from bench.load import LoadResult, run_wrk
from bench.models import BenchModel
from bench.ort_limit import run_ort_limit
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


def warm_up(url: str, image: Path, n: int = 5) -> None:
    """First requests load lazily (kernels, caches); keep them out of the measurement."""
    data = image.read_bytes()
    for _ in range(n):
        r = requests.post(f"{url}/predict", files={"file": ("food.jpg", data, "image/jpeg")}, timeout=60)
        r.raise_for_status()


def measure_http(
    url: str, image: Path, concurrencies: Iterable[int], duration_s: float, max_requests: int, progress: Callable
) -> list[LoadResult]:
    warm_up(url, image)
    results = []
    for c in concurrencies:
        r = run_wrk(f"{url}/predict", image, c, duration_s=duration_s, max_requests=max_requests)
        progress(f"  c={c:<3} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.1f} ms  p99 {r.p99_ms:7.1f} ms  errors {r.errors}")
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
