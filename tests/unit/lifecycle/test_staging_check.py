"""The staging test against a real HTTP server on a free loopback port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram.lifecycle.staging import run_staging_test


class _App(BaseHTTPRequestHandler):
    version = "1.0.5"
    answer = "Rice"
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's API
        if self.path == "/version":
            body, code = json.dumps({"model_version": self.server.version}).encode(), 200
        elif self.path == "/test":
            body, code = self.server.answer.encode(), self.server.status
        else:
            body, code = b"not found", 404
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    server.version, server.answer, server.status = "1.0.5", "Rice", 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_passes_when_version_and_class_are_right(app):
    result = run_staging_test(_url(app), 5, timeout=5, poll=0.1)
    assert result.passed, result.reason
    assert result.answer == "Rice"


def test_fails_with_the_served_version_when_it_never_matches(app):
    result = run_staging_test(_url(app), 6, timeout=0.5, poll=0.1)
    assert not result.passed
    assert "did not report 1.0.6" in result.reason and "reports 1.0.5" in result.reason


def test_waits_until_the_new_version_appears(app):
    timer = threading.Timer(0.5, lambda: setattr(app, "version", "1.0.6"))
    timer.start()
    result = run_staging_test(_url(app), 6, timeout=20, poll=0.1)
    timer.join()
    assert result.passed, result.reason


def test_fails_when_test_answers_no_class(app):
    app.answer = "Pizza"
    result = run_staging_test(_url(app), 5, timeout=5, poll=0.1)
    assert not result.passed and "'Pizza'" in result.reason


def test_fails_when_test_errors(app):
    app.status = 503
    result = run_staging_test(_url(app), 5, timeout=5, poll=0.1)
    assert not result.passed and "HTTP 503" in result.reason


def test_fails_clearly_when_nothing_listens():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    url = _url(server)
    server.server_close()
    result = run_staging_test(url, 5, timeout=0.3, poll=0.1)
    assert not result.passed and "unreachable" in result.reason
