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

from app import drift

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

# What the canary analysis compares (gourmetgram/canary; recording rules in
# k8s/platform/files/prometheus/canary-rules.yml): per environment and model version,
# so production and canary series never mix, even behind one gateway.
SERVED_LABELS = ("environment", "model_version")
SERVED_REQUESTS = Counter(
    "gourmetgram_served_requests_total",
    "HTTP requests answered, by environment, model version, route and status class (2xx, 4xx, 5xx).",
    [*SERVED_LABELS, "endpoint", "code_class"],
)
SERVED_LATENCY = Histogram(
    "gourmetgram_served_request_duration_seconds",
    "Time to answer an HTTP request, by environment, model version and route.",
    [*SERVED_LABELS, "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0),
)
SERVED_PREDICTIONS = Counter(
    "gourmetgram_served_predictions_total",
    "Images classified, by environment, model version and predicted class.",
    [*SERVED_LABELS, "class_name"],
)
SERVED_CONFIDENCE = Histogram(
    "gourmetgram_served_confidence",
    "Top-1 probability of each classification, by environment and model version.",
    list(SERVED_LABELS),
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
# Online accuracy from user feedback (app/feedback.py): labelled by the environment and
# version that made the prediction (a label may reach another worker or environment).
FEEDBACK_OUTCOMES = ("right", "wrong")
FEEDBACK = Counter(
    "gourmetgram_feedback_total",
    "User feedback on predictions, by the predicting environment and model version, and outcome (right, wrong).",
    [*SERVED_LABELS, "outcome"],
)
CAPTURE_ERRORS = Counter(
    "gourmetgram_capture_errors_total",
    "Predictions the capture (app/capture.py) did not record, by reason; the prediction itself was answered.",
    ["reason"],
)
# The routes whose series exist from the start (at 0): increase() cannot count the
# first event of a series that appears only with it.
PREDICT_ENDPOINT = "/predict"
CODE_CLASSES = ("2xx", "4xx", "5xx")
_served: tuple[str, str] = ("none", "unknown")


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


def set_model_state(environment: str, version: str | None, ready: bool, classes: tuple[str, ...] = ()) -> None:
    global _served
    if version:
        MODEL_INFO.labels(environment=environment, model_version=version).set(1)
    MODEL_READY.set(1 if ready else 0)
    _served = (environment, version or "unknown")
    for code_class in CODE_CLASSES:
        SERVED_REQUESTS.labels(*_served, PREDICT_ENDPOINT, code_class)
    SERVED_LATENCY.labels(*_served, PREDICT_ENDPOINT)
    for name in classes:
        SERVED_PREDICTIONS.labels(*_served, name)
    SERVED_CONFIDENCE.labels(*_served)
    for outcome in FEEDBACK_OUTCOMES:
        FEEDBACK.labels(*_served, outcome)


def code_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(endpoint: str, method: str, status: int, seconds: float | None) -> None:
    """One answered request: the per-route counters and the per-version ones the canary analysis reads."""
    REQUESTS.labels(endpoint=endpoint, method=method, status=str(status)).inc()
    SERVED_REQUESTS.labels(*_served, endpoint, code_class(status)).inc()
    if seconds is not None:
        LATENCY.labels(endpoint=endpoint).observe(seconds)
        SERVED_LATENCY.labels(*_served, endpoint).observe(seconds)


def observe_prediction(class_name: str, confidence: float, measured: drift.InputDrift | None = None) -> None:
    PREDICTIONS.labels(class_name=class_name).inc()
    SERVED_PREDICTIONS.labels(*_served, class_name).inc()
    SERVED_CONFIDENCE.labels(*_served).observe(confidence)
    drift.observe(_served, measured)  # the input drift score's counts (an uploaded image, not /test)
