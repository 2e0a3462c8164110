"""POST /feedback: a user says a prediction was right, or wrong and which class it is.

JSON (Accept: application/json) or the page's form, both with the fields
    prediction_id   the id /predict answered (32 hex digits)
    correct         true / false
    true_class      one of the 11 classes; required when correct is false
Bad input gets a 4xx naming the problem and changes nothing: 400 (malformed, unknown
class, contradiction), 404 (unknown id), 409 (already labelled), 503 (capture is off).
A recorded label counts in gourmetgram_feedback_total{environment, model_version, outcome}
with the environment and version that made the prediction.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from app import capture_store, metrics
from app.routes import CAPTURE_EXTENSION, error, wants_json
from gourmetgram import names

bp = Blueprint("feedback", __name__)

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_REASONS = {404: "unknown_id", 409: "already_labelled"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def recorder():
    """The worker's capture Recorder (app/capture.py), or None when capture is off."""
    return current_app.extensions.get(CAPTURE_EXTENSION)


def _fields() -> tuple[dict, str | None]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return {}, "the JSON body must be an object {prediction_id, correct, true_class}"
        return body, None
    return request.form.to_dict(), None


def _as_bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return None


def _reply_json() -> bool:
    # A JSON body gets a JSON answer unless the client asks for HTML.
    return wants_json() or (request.is_json and not request.accept_mimetypes.best == "text/html")


@bp.post("/feedback")
def submit():
    as_json = _reply_json()
    fields, problem = _fields()
    if problem:
        return error(400, problem, "bad_request", as_json)
    pid = fields.get("prediction_id")
    if not isinstance(pid, str) or not _ID_RE.match(pid):
        return error(400, "prediction_id must be the 32-hex-digit id that /predict answered", "bad_id", as_json)
    correct = _as_bool(fields.get("correct"))
    if correct is None:
        return error(400, "correct must be true or false", "bad_correct", as_json)
    true_class = fields.get("true_class") or None
    if correct and not request.is_json:
        true_class = None  # the page's form always sends its class menu; "Right" ignores it
    if true_class is not None and true_class not in names.CLASSES:
        return error(400, f"unknown class {true_class!r}: one of {', '.join(names.CLASSES)}", "unknown_class", as_json)
    if not correct and true_class is None:
        return error(400, "a wrong prediction needs true_class, the right class", "no_class", as_json)
    rec = recorder()
    if rec is None:
        return error(503, "feedback is not recorded here: capture is off (GG_CAPTURE_DIR is not set)", "off", as_json)
    try:
        labelled = rec.label(pid, correct, true_class)
    except capture_store.FeedbackError as exc:
        return error(exc.status, str(exc), _REASONS.get(exc.status, "bad_request"), as_json)
    metrics.FEEDBACK.labels(labelled.environment, labelled.model_version, labelled.outcome).inc()
    answer = {
        "prediction_id": labelled.id,
        "outcome": labelled.outcome,
        "class_name": labelled.class_name,
        "true_class": labelled.label,
        "environment": labelled.environment,
        "model_version": labelled.model_version,
        "image_kept": labelled.image_kept,
    }
    if as_json:
        return jsonify(answer)
    return Response(render_template("_feedback.html", **answer), mimetype="text/html")
