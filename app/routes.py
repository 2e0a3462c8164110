"""The app's routes, as a Flask blueprint (the layout of Flask's tutorial app).

create_app (app/app.py) builds the app and its ServingState, then registers
this blueprint; the views read the state from current_app.extensions.
"""

from __future__ import annotations

import io
import socket
import time
import uuid
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app import metrics, profiling
from gourmetgram import names, preprocess

bp = Blueprint("serving", __name__)

APP_DIR = Path(__file__).resolve().parent
TEST_IMAGE = APP_DIR / "static" / "test.jpg"
UPLOAD_FIELD = "file"
# Where create_app puts the capture Recorder (None: capture is off).
CAPTURE_EXTENSION = "gourmetgram.capture"
# How much of a refused (too large) upload we read and drop to keep the connection usable.
DRAIN_CAP_BYTES = 32 * 1024 * 1024


def serving_state():
    """The ServingState create_app made (app/app.py)."""
    return current_app.extensions["gourmetgram"]


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error(status: int, message: str, reason: str, as_json: bool | None = None) -> Response:
    """A 4xx/5xx in the form the client asked for: JSON, or an HTML snippet the page can insert."""
    if request.path == "/predict" and status < 500:
        metrics.INVALID_INPUTS.labels(reason=reason).inc()
    if wants_json() if as_json is None else as_json:
        resp = jsonify(error=message, reason=reason)
    else:
        resp = Response(render_template("_error.html", message=message), mimetype="text/html")
    resp.status_code = status
    return resp


@bp.before_app_request
def _start_timer():
    profiling.lap("flask_in")
    g.gg_start = time.perf_counter()


@bp.after_app_request
def _count(resp: Response) -> Response:
    profiling.lap("response")
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    seconds = time.perf_counter() - g.gg_start if "gg_start" in g else None
    metrics.observe_request(endpoint, request.method, resp.status_code, seconds)
    profiling.lap("metrics")
    return resp


@bp.app_errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    drained = _drain_unread_body()
    resp = error(413, f"upload too large: the limit is {human_bytes(limit)}", "too_large")
    sock = request.environ.get("gunicorn.socket")
    if not drained and sock is not None:
        # Too much left to read: end the connection once the answer is out.
        resp.call_on_close(lambda: _shutdown_quietly(sock))
    return resp


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    if request.path == "/predict":
        return error(exc.code or 400, exc.description or exc.name, "bad_request")
    return exc


@bp.get("/")
def index():
    state = serving_state()
    return render_template(
        "index.html",
        version=state.version or "unknown",
        environment=state.environment if state.environment in names.ENVIRONMENTS else None,
        classes=names.CLASSES,
        ready=state.ready,
        max_upload=human_bytes(current_app.config["MAX_CONTENT_LENGTH"]),
        # model.json says what the model learnt from: a synthetic or placeholder model is flagged.
        model_notice=names.data_source_notice(
            state.classifier.meta.get("data_source") if state.classifier is not None else None
        ),
    )


@bp.post("/predict")
def predict():
    state = serving_state()
    if state.classifier is None:
        return error(503, "the model is not loaded: " + "; ".join(state.problems), "not_ready")
    upload = request.files.get(UPLOAD_FIELD)
    profiling.lap("multipart")
    if upload is None and UPLOAD_FIELD in request.form:
        return error(
            400,
            f"the form field '{UPLOAD_FIELD}' holds text, not a file: upload the image as a file "
            f"(for example curl -F {UPLOAD_FIELD}=@photo.jpg)",
            "not_a_file",
        )
    data = upload_bytes(upload)
    if not data and not (upload and upload.filename):
        # A browser form submitted without choosing a file sends an empty, unnamed part.
        return error(400, f"no file: send the image as the multipart form field '{UPLOAD_FIELD}'", "no_file")
    if not data:
        return error(400, f"empty file: {upload.filename!r} has no content", "empty")
    try:
        pred = state.classifier.predict_bytes(data)
    except preprocess.ImageTooLargeError as exc:
        return error(413, str(exc), "too_many_pixels")
    except preprocess.ImageError as exc:
        return error(400, f"cannot classify this file: {exc}", "not_an_image")
    metrics.observe_prediction(pred.class_name, pred.confidence, pred.drift)
    profiling.lap("metrics")
    # Every prediction gets an id: the answer carries it, feedback (app/feedback.py) names it.
    pid = uuid.uuid4().hex
    recorder = current_app.extensions.get(CAPTURE_EXTENSION)
    if recorder is not None:  # GG_CAPTURE_DIR: a cheap enqueue, the work is on a thread (app/capture.py)
        recorder.record(pid, state.environment, state.version or "unknown", pred.class_name, pred.confidence, data)
    if wants_json():
        return jsonify(**pred.as_dict(), model_version=state.version, prediction_id=pid)
    return render_template(
        "_prediction.html", pred=pred, prediction_id=pid, feedback=recorder is not None, classes=names.CLASSES
    )


@bp.get("/test")
def test():
    state = serving_state()
    if state.classifier is None:
        return Response("model not loaded\n", status=503, mimetype="text/plain")
    pred = state.classifier.predict_image(preprocess.load_image(TEST_IMAGE))
    metrics.observe_prediction(pred.class_name, pred.confidence)
    return Response(pred.class_name, mimetype="text/plain")


@bp.get("/version")
def version():
    state = serving_state()
    if state.version is None:
        return jsonify(error="; ".join(state.problems)), 503
    return jsonify(model_version=state.version)


@bp.get("/healthz")
def healthz():
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz():
    state = serving_state()
    if state.ready:
        return jsonify(ready=True, model_version=state.version)
    return jsonify(ready=False, reason="; ".join(state.problems)), 503


@bp.get("/metrics")
def metrics_endpoint():
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


def upload_bytes(upload) -> bytes:
    """The uploaded file's bytes; from InMemoryRequest's BytesIO without a copy (getvalue shares its buffer)."""
    if upload is None:
        return b""
    if isinstance(upload.stream, io.BytesIO):
        return upload.stream.getvalue()
    return upload.read()


def _drain_unread_body() -> bool:
    """Read and drop the rest of a refused upload, up to DRAIN_CAP_BYTES; True when it was all read.

    gunicorn keeps the connection open after the 413; an unread body would
    leave a worker thread waiting on it, and a client still sending would
    never see the answer.
    """
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return True
    left = DRAIN_CAP_BYTES
    while left > 0:
        chunk = stream.read(min(64 * 1024, left))
        if not chunk:
            return True
        left -= len(chunk)
    return False


def _shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def human_bytes(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"
