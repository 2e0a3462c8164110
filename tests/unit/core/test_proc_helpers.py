"""wait_http_ok: the platform waits for each service's ready endpoint through it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram.errors import NotReady
from gourmetgram.proc_helpers import wait_http_ok


@pytest.fixture
def server():
    """A 127.0.0.1 server whose /ready answers 503 until `answers` lets it say 200."""
    answers = {"code": 503, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            answers["hits"] += 1
            if answers["hits"] >= 3:
                answers["code"] = answers.get("later", 503)
            self.send_response(answers["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ready", answers
    httpd.shutdown()


def test_returns_once_the_endpoint_answers_200(server):
    url, answers = server
    answers["later"] = 200
    wait_http_ok("Demo", url, timeout=30)
    assert answers["hits"] >= 3  # it polled through the 503s


def test_never_ready_names_the_service_the_url_and_the_log(server, tmp_path):
    url, _ = server
    with pytest.raises(NotReady, match=rf"Demo at {url} not ready within 1s; see {tmp_path}/demo.log"):
        wait_http_ok("Demo", url, timeout=1, log_hint=tmp_path / "demo.log")
