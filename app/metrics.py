"""Prometheus metrics of the app, correct across several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (app/gunicorn.conf.py sets it), every worker
writes its samples to files in that directory and /metrics merges them, so a
scrape sees the whole pod, not just the worker that answered. Without it (the
Flask dev server, unit tests) the process's own registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "gourmetgram_http_requests_total",
    "HTTP requests answered, by route, method and status code.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "gourmetgram_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0),
)
PREDICTIONS = Counter(
    "gourmetgram_predictions_total",
    "Images classified, by predicted class.",
    ["class_name"],
)
INVALID_INPUTS = Counter(
    "gourmetgram_invalid_inputs_total",
    "Uploads refused with a 4xx, by reason.",
    ["reason"],
)
# Info-style gauges: value 1 with the version as a label. 'livemax' merges the
# workers into one series and forgets workers that died.
MODEL_INFO = Gauge(
    "gourmetgram_model_info",
    "The model version this app serves, and in which environment (value 1; both in labels).",
    ["environment", "model_version"],
    multiprocess_mode="livemax",
)
MODEL_READY = Gauge(
    "gourmetgram_model_ready",
    "1 when the model is loaded and the app can classify, else 0.",
    multiprocess_mode="livemin",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> tuple[bytes, str]:
    """The exposition text of all metrics (merged over workers in multiprocess mode)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def set_model_state(environment: str, version: str | None, ready: bool) -> None:
    if version:
        MODEL_INFO.labels(environment=environment, model_version=version).set(1)
    MODEL_READY.set(1 if ready else 0)
