"""The GourmetGram web app: upload a food photo, get its Food-11 class.

create_app builds the Flask app and what it serves; the routes are a blueprint (app/routes.py).

Run it with gunicorn (see app/gunicorn.conf.py):
    gunicorn -c app/gunicorn.conf.py --bind 127.0.0.1:8000 'app.app:create_app()'

Environment:
    GG_MODEL_DIR          directory with model.onnx + model.json (default: model)
    GG_VERSION_FILE       versions.txt holding 1.0.N (default: versions.txt)
    GG_MAX_UPLOAD_BYTES   largest accepted upload (default: 10 MiB)
    GG_ORT_THREADS        onnxruntime threads per worker (default: 1)
    GG_ENVIRONMENT        staging / canary / production, shown on the page and in /metrics (optional)
    GG_CAPTURE_DIR        record predictions and some images for feedback (off when unset; app/capture.py)
    GG_TEST_FAULT         TESTS ONLY, off by default: plant a bad candidate (see app/faults.py)

A model that cannot be loaded does not stop the process: it logs one clear
ERROR line and /readyz answers 503 with the reason for as long as it runs, so a
deploy that waits on /readyz never switches traffic to it.
"""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

from flask import Flask, Request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import ClientDisconnected

from app import body, capture, faults, feedback, inference, metrics, multipart, profiling, routes
from gourmetgram import names

log = logging.getLogger("gourmetgram.app")

APP_DIR = routes.APP_DIR
TEST_IMAGE = routes.TEST_IMAGE
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024


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

    app.register_blueprint(routes.bp)
    app.register_blueprint(feedback.bp)
    # GG_CAPTURE_DIR: record predictions for feedback (app/capture.py); off when unset.
    app.extensions[routes.CAPTURE_EXTENSION] = capture.Recorder.from_env()
    return app


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


def _configure_logging() -> None:
    # Under gunicorn the root logger has no handler; send the app's lines to
    # stderr next to gunicorn's own, with the worker pid.
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
