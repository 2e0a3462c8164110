"""Test-only fault injection: plant a bad candidate to prove the canary analysis stops it.

OFF unless the environment variable GG_TEST_FAULT is set; nothing a user does turns it on
(no route, no header, no model field). The tests of the canary analysis set it on one
deployed version only (tests/e2e/canary). Values:

    errors:RATE          answer every (1/RATE)-th POST /predict with a 500 (errors:0.05 = 1 in 20)
    latency:SECONDS      a slower model: every classification takes this much longer (latency:0.25)
    constant-class:NAME  classify every image as NAME (one of the 11 classes; its probability
                         becomes the confidence) -- passes the staging test, which only checks
                         that /test answers a class name

Faults are deterministic (a counter, not a coin), so a test sees the planted rate in a
few dozen requests. A bad value stops the app at start with a clear message.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

from flask import Flask, jsonify, request

from gourmetgram import names

FAULT_ENV = "GG_TEST_FAULT"
KINDS = ("errors", "latency", "constant-class")


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    value: str

    @property
    def every(self) -> int:
        return max(1, round(1 / float(self.value)))


def parse(text: str) -> Fault | None:
    """GG_TEST_FAULT's value -> Fault (None when empty); SystemExit naming the problem otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    kind, _, value = text.partition(":")
    problem = ""
    if kind not in KINDS or not value:
        problem = f"expected one of {', '.join(k + ':VALUE' for k in KINDS)}"
    elif kind == "errors":
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not 0 < rate <= 1:
            problem = "errors:RATE needs 0 < RATE <= 1"
    elif kind == "latency":
        try:
            delay = float(value)
        except ValueError:
            delay = -1.0
        if not 0 < delay <= 30:
            problem = "latency:SECONDS needs 0 < SECONDS <= 30"
    elif value not in names.CLASSES:
        problem = f"constant-class:NAME needs one of {', '.join(names.CLASSES)}"
    if problem:
        raise SystemExit(f"{FAULT_ENV}={text!r}: {problem}")
    return Fault(kind, value)


def install(app: Flask, state) -> Fault | None:
    """Apply GG_TEST_FAULT to the app (nothing when unset); returns the fault."""
    fault = parse(os.environ.get(FAULT_ENV, ""))
    if fault is None:
        return None
    app.logger.warning("TEST FAULT ACTIVE: %s=%s:%s", FAULT_ENV, fault.kind, fault.value)
    if fault.kind == "constant-class" and state.classifier is not None:
        state.classifier = _ConstantClass(state.classifier, fault.value)
        return fault
    if fault.kind == "latency" and state.classifier is not None:
        state.classifier = _Slow(state.classifier, float(fault.value))
        return fault
    counter = {"n": 0}
    lock = threading.Lock()

    @app.before_request
    def _inject():
        if fault.kind != "errors" or request.path != "/predict" or request.method != "POST":
            return None
        with lock:
            counter["n"] += 1
            hit = counter["n"] % fault.every == 1 % fault.every
        if hit:
            return jsonify(error="injected test fault", reason="test_fault"), 500
        return None

    return fault


class _ConstantClass:
    """The real classifier, but its answer is always the same class (a model that collapsed)."""

    def __init__(self, inner, class_name: str):
        self._inner = inner
        self._class = class_name

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _force(self, pred):
        return dataclasses.replace(pred, class_name=self._class, confidence=pred.probabilities[self._class])

    def predict_bytes(self, data: bytes):
        return self._force(self._inner.predict_bytes(data))

    def predict_image(self, img):
        return self._force(self._inner.predict_image(img))


class _Slow:
    """The real classifier, slower by a fixed delay per image (inside the timed request)."""

    def __init__(self, inner, delay: float):
        self._inner = inner
        self._delay = delay

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def predict_bytes(self, data: bytes):
        time.sleep(self._delay)
        return self._inner.predict_bytes(data)

    def predict_image(self, img):
        time.sleep(self._delay)
        return self._inner.predict_image(img)
