"""The GourmetGram web app: upload a food photo, get its Food-11 class.

Run it with gunicorn (see app/gunicorn.conf.py):
    gunicorn -c app/gunicorn.conf.py --bind 127.0.0.1:8000 'app.app:create_app()'

Environment:
    GG_MODEL_DIR          directory with model.onnx + model.json (default: model)
    GG_VERSION_FILE       versions.txt holding 1.0.N (default: versions.txt)
    GG_MAX_UPLOAD_BYTES   largest accepted upload (default: 10 MiB)
    GG_ORT_THREADS        onnxruntime threads per worker (default: 1)
    GG_ENVIRONMENT        staging / canary / production, shown on the page and in /metrics (optional)
    GG_TEST_FAULT         TESTS ONLY, off by default: plant a bad candidate (see app/faults.py)

A model that cannot be loaded does not stop the process: it logs one clear
ERROR line and /readyz answers 503 with the reason for as long as it runs, so a
deploy that waits on /readyz never switches traffic to it.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import time
from pathlib import Path

from flask import Flask, Request, Response, g, jsonify, render_template, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from app import body, faults, inference, metrics, multipart, profiling
from gourmetgram import names, preprocess

log = logging.getLogger("gourmetgram.app")

APP_DIR = Path(__file__).resolve().parent
TEST_IMAGE = APP_DIR / "static" / "test.jpg"
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
UPLOAD_FIELD = "file"
# How much of a refused (too large) upload we read and drop to keep the connection usable.
DRAIN_CAP_BYTES = 32 * 1024 * 1024


class InMemoryRequest(Request):
    """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH); werkzeug would spool big ones to /tmp."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()

    def _load_form_data(self) -> None:
        # The common upload (one file part) without werkzeug's streaming parser: see app/multipart.py.
        if "form" in self.__dict__ or self.mimetype != "multipart/form-data" or not self.content_length:
            return super()._load_form_data()
        # self.stream applies werkzeug's limits (413 before reading a too large body). Then one read
        # of the server's input takes the whole body in one pass over the socket (app/body.py),
        # without werkzeug's LimitedStream copying it twice more.
        _ = self.stream
        body = self.environ["wsgi.input"].read(self.content_length)
        if len(body) != self.content_length:
            raise ClientDisconnected()
        part = multipart.single_file_part(body, self.mimetype_params.get("boundary", ""))
        d = self.__dict__
        if part is None:  # werkzeug's parser, on the same bytes, with its limits and errors
            parser = self.make_form_data_parser()
            d["stream"], d["form"], d["files"] = parser.parse(
                io.BytesIO(body), self.mimetype, self.content_length, self.mimetype_params
            )
            return None
        upload = FileStorage(io.BytesIO(part.content), part.filename, part.name, part.content_type)
        d["stream"], d["form"] = io.BytesIO(), self.parameter_storage_class()
        d["files"] = self.parameter_storage_class([(part.name, upload)])
        return None


class ServingState:
    """What this process serves: the classifier (or why there is none) and the version string."""

    def __init__(self, model_dir: Path, version_file: Path):
        self.model_dir = model_dir
        self.version_file = version_file
        self.classifier: inference.Classifier | None = None
        self.version: str | None = None
        self.problems: list[str] = []
        self.environment = os.environ.get("GG_ENVIRONMENT", "") or "none"
        self._load_version()
        self._load_model()
        metrics.set_model_state(self.environment, self.version, self.ready, names.CLASSES)

    @property
    def ready(self) -> bool:
        return self.classifier is not None and self.version is not None

    def _load_version(self) -> None:
        try:
            text = self.version_file.read_text().strip()
            names.parse_version_string(text)
        except FileNotFoundError:
            self._problem(f"version file {self.version_file} is missing")
        except (OSError, ValueError) as exc:
            self._problem(f"version file {self.version_file}: {exc}")
        else:
            self.version = text

    def _load_model(self) -> None:
        start = time.perf_counter()
        try:
            self.classifier = inference.Classifier(self.model_dir)
        except inference.ModelLoadError as exc:
            self._problem(f"model not loaded: {exc}")
        else:
            log.info(
                "model loaded from %s (version %s, input %d) in %.2f s",
                self.model_dir,
                self.version,
                self.classifier.input_size,
                time.perf_counter() - start,
            )

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        log.error("NOT READY: %s", message)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _error(status: int, message: str, reason: str) -> Response:
    """A 4xx/5xx in the form the client asked for: JSON, or an HTML snippet the page can insert."""
    if request.path == "/predict" and status < 500:
        metrics.INVALID_INPUTS.labels(reason=reason).inc()
    if _wants_json():
        resp = jsonify(error=message, reason=reason)
    else:
        resp = Response(render_template("_error.html", message=message), mimetype="text/html")
    resp.status_code = status
    return resp


def create_app(model_dir: str | Path | None = None, version_file: str | Path | None = None) -> Flask:
    """The Flask app; arguments override GG_MODEL_DIR / GG_VERSION_FILE."""
    _configure_logging()
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = _max_upload_bytes()
    # Text fields get the same limit, so an image sent as text gets the "not a file" answer below.
    app.config["MAX_FORM_MEMORY_SIZE"] = app.config["MAX_CONTENT_LENGTH"]
    state = ServingState(
        Path(model_dir or os.environ.get("GG_MODEL_DIR", "model")),
        Path(version_file or os.environ.get("GG_VERSION_FILE", "versions.txt")),
    )
    app.extensions["gourmetgram"] = state
    faults.install(app, state)  # test-only, off unless GG_TEST_FAULT is set (app/faults.py)
    app.wsgi_app = body.FastBodyMiddleware(app.wsgi_app)
    if profiling.ENABLED:  # GG_PROFILE_DIR: per-request CPU breakdown for the bench
        app.wsgi_app = profiling.ProfileMiddleware(app.wsgi_app)

    @app.before_request
    def _start_timer():
        profiling.lap("flask_in")
        g.gg_start = time.perf_counter()

    @app.after_request
    def _count(resp: Response) -> Response:
        profiling.lap("response")
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        seconds = time.perf_counter() - g.gg_start if "gg_start" in g else None
        metrics.observe_request(endpoint, request.method, resp.status_code, seconds)
        profiling.lap("metrics")
        return resp

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc):
        limit = app.config["MAX_CONTENT_LENGTH"]
        drained = _drain_unread_body()
        resp = _error(413, f"upload too large: the limit is {_human_bytes(limit)}", "too_large")
        sock = request.environ.get("gunicorn.socket")
        if not drained and sock is not None:
            # Too much left to read: end the connection once the answer is out.
            resp.call_on_close(lambda: _shutdown_quietly(sock))
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path == "/predict":
            return _error(exc.code or 400, exc.description or exc.name, "bad_request")
        return exc

    @app.get("/")
    def index():
        return render_template(
            "index.html",
            version=state.version or "unknown",
            environment=state.environment if state.environment in names.ENVIRONMENTS else None,
            classes=names.CLASSES,
            ready=state.ready,
            max_upload=_human_bytes(app.config["MAX_CONTENT_LENGTH"]),
            # model.json says what the model learnt from: a synthetic or placeholder model is flagged.
            model_notice=names.data_source_notice(
                state.classifier.meta.get("data_source") if state.classifier is not None else None
            ),
        )

    @app.post("/predict")
    def predict():
        if state.classifier is None:
            return _error(503, "the model is not loaded: " + "; ".join(state.problems), "not_ready")
        upload = request.files.get(UPLOAD_FIELD)
        profiling.lap("multipart")
        if upload is None and UPLOAD_FIELD in request.form:
            return _error(
                400,
                f"the form field '{UPLOAD_FIELD}' holds text, not a file: upload the image as a file "
                f"(for example curl -F {UPLOAD_FIELD}=@photo.jpg)",
                "not_a_file",
            )
        data = _upload_bytes(upload)
        if not data and not (upload and upload.filename):
            # A browser form submitted without choosing a file sends an empty, unnamed part.
            return _error(400, f"no file: send the image as the multipart form field '{UPLOAD_FIELD}'", "no_file")
        if not data:
            return _error(400, f"empty file: {upload.filename!r} has no content", "empty")
        try:
            pred = state.classifier.predict_bytes(data)
        except preprocess.ImageTooLargeError as exc:
            return _error(413, str(exc), "too_many_pixels")
        except preprocess.ImageError as exc:
            return _error(400, f"cannot classify this file: {exc}", "not_an_image")
        metrics.observe_prediction(pred.class_name, pred.confidence, pred.drift)
        profiling.lap("metrics")
        if _wants_json():
            return jsonify(**pred.as_dict(), model_version=state.version)
        return render_template("_prediction.html", pred=pred)

    @app.get("/test")
    def test():
        if state.classifier is None:
            return Response("model not loaded\n", status=503, mimetype="text/plain")
        pred = state.classifier.predict_image(preprocess.load_image(TEST_IMAGE))
        metrics.observe_prediction(pred.class_name, pred.confidence)
        return Response(pred.class_name, mimetype="text/plain")

    @app.get("/version")
    def version():
        if state.version is None:
            return jsonify(error="; ".join(state.problems)), 503
        return jsonify(model_version=state.version)

    @app.get("/healthz")
    def healthz():
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz():
        if state.ready:
            return jsonify(ready=True, model_version=state.version)
        return jsonify(ready=False, reason="; ".join(state.problems)), 503

    @app.get("/metrics")
    def metrics_endpoint():
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    return app


def _upload_bytes(upload) -> bytes:
    """The uploaded file's bytes; from InMemoryRequest's BytesIO without a copy (getvalue shares its buffer)."""
    if upload is None:
        return b""
    if isinstance(upload.stream, io.BytesIO):
        return upload.stream.getvalue()
    return upload.read()


def _max_upload_bytes() -> int:
    raw = os.environ.get("GG_MAX_UPLOAD_BYTES")
    if not raw:
        return DEFAULT_MAX_UPLOAD_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"GG_MAX_UPLOAD_BYTES must be a positive integer (bytes), got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"GG_MAX_UPLOAD_BYTES must be a positive integer (bytes), got {raw!r}")
    return value


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


def _human_bytes(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"


def _configure_logging() -> None:
    # Under gunicorn the root logger has no handler; send the app's lines to
    # stderr next to gunicorn's own, with the worker pid.
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
