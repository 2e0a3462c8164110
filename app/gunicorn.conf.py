"""gunicorn settings for the GourmetGram app.

    gunicorn -c app/gunicorn.conf.py --bind 127.0.0.1:8000 'app.app:create_app()'

Environment (defaults derived from the usable CPUs, app/capacity.py: cores and the
cgroup CPU limit; 2 cores or a 500m-CPU pod -> 2 workers x 1 thread x 1 onnxruntime thread):
    GG_WORKERS          worker processes (default: usable CPUs rounded up, 2 to 8)
    GG_THREADS          threads per worker (default 1: the sync worker; >1 uses the gthread worker)
    GG_ORT_THREADS      onnxruntime intra-op threads per worker (default 1)
    GG_TIMEOUT          seconds a silent worker may take before the master kills it (default 60)
    GG_BIND             listen address when --bind is not given (gunicorn's default: 127.0.0.1:8000)
    PROMETHEUS_MULTIPROC_DIR  where workers share their metrics (default: a fresh temp dir)

No preload: every worker builds its own onnxruntime session after the fork,
because onnxruntime's thread pools do not survive fork(). The master only
supervises; a worker killed even with SIGKILL is replaced by a fresh one that
loads the model again.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# gunicorn loads this file by path; the app package beside it holds the derivation.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import capacity  # noqa: E402


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be an integer >= {minimum}, got {raw!r}")
    return value


# Without --bind or GG_BIND, gunicorn's own default (127.0.0.1:8000) applies. The
# container port lives in the Helm values (containerPort); the image's CMD binds it.
if os.environ.get("GG_BIND"):
    bind = os.environ["GG_BIND"]
machine = capacity.detect()
_derived = capacity.defaults_for(machine.cpus)
workers = _int_env("GG_WORKERS", _derived.workers)
threads = _int_env("GG_THREADS", _derived.threads)
# onnxruntime threads per worker; each worker's app/inference.py reads it after the fork.
# Set in each worker by post_fork below (not in the master's or a test's environment).
ort_threads = _int_env("GG_ORT_THREADS", _derived.ort_threads)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int_env("GG_TIMEOUT", 60)
graceful_timeout = _int_env("GG_GRACEFUL_TIMEOUT", 20)
keepalive = 5
preload_app = False
# No planned worker recycling by default: a recycled worker closes its keep-alive connections,
# and a client (or Traefik) that sends on one just then gets a reset. `python -m bench` counted
# 12 such errors in ~60k requests with 5000, and 2 in 363 with 200 (none with 0); the soak in
# tests/faults shows flat worker memory over thousands of requests, so there is no leak to bound.
# GG_MAX_REQUESTS=N recycles anyway (jitter keeps the workers from restarting together).
max_requests = _int_env("GG_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = max_requests // 10
# Worker heartbeat files in memory, not on a possibly slow disk (the Docker image has /dev/shm).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GG_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "gourmetgram-app"

# Prometheus multiprocess mode must be configured before any worker imports prometheus_client.
_own_multiproc_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_multiproc_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gourmetgram-metrics-")


def on_starting(server):
    # Samples of an earlier run would be merged into this one's: start from an empty directory.
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for entry in os.listdir(path):
        if entry.endswith(".db"):
            os.unlink(os.path.join(path, entry))
    server.log.info("metrics of all workers are merged from %s", path)
    limit = f"{machine.limit:g} CPU ({machine.source})" if machine.limit is not None else "none"
    server.log.info(
        "usable CPUs %g (cores %d, cgroup limit %s): %d workers x %d threads, %d onnxruntime threads each",
        machine.cpus,
        machine.cores,
        limit,
        workers,
        threads,
        ort_threads,
    )


def post_fork(server, worker):
    # The worker loads the app (and its onnxruntime session) after this hook: no preload.
    os.environ["GG_ORT_THREADS"] = str(ort_threads)


def child_exit(server, worker):
    # Only prometheus_client's helper: importing app.metrics here would give the
    # master its own gauge samples, which would then be merged into the workers'.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_multiproc_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
