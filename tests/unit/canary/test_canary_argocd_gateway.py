"""The cluster's weight mover against a stand-in Argo CD API server on 127.0.0.1 (real HTTP):
login, read the platform app, replace only the route weights, sync, wait until synced."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram import names
from gourmetgram.canary.gateways import ArgoCDGateway, step_weights

APP = names.app_name(names.PLATFORM)


class FakeArgoCD:
    def __init__(self, fail_sync: bool = False):
        self.spec = {"source": {"helm": {"parameters": [{"name": "gateway.externalIP", "value": "10.0.0.9"}]}}}
        self.calls: list[str] = []
        self.polls_until_synced = 2
        self.fail_sync = fail_sync
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def do_POST(self):
                fake.calls.append(f"POST {self.path}")
                if self.path == "/api/v1/session":
                    body = self._body()
                    if body.get("password") != "s3cret":
                        return self._send(401, {"error": "invalid username or password"})
                    return self._send(200, {"token": "tok"})
                if self.headers.get("Authorization") != "Bearer tok":
                    return self._send(403, {})
                if self.path == f"/api/v1/applications/{APP}/sync":
                    return self._send(200, {})
                return self._send(404, {})

            def do_PUT(self):
                fake.calls.append(f"PUT {self.path}")
                if self.headers.get("Authorization") != "Bearer tok":
                    return self._send(403, {})
                fake.spec = self._body()
                return self._send(200, {"spec": fake.spec})

            def do_GET(self):
                fake.calls.append(f"GET {self.path}")
                if self.headers.get("Authorization") != "Bearer tok":
                    return self._send(403, {})
                syncing = sum(c.startswith("GET") for c in fake.calls) <= fake.polls_until_synced
                phase = "Failed" if fake.fail_sync else ("Running" if syncing else "Succeeded")
                status = {"sync": {"status": "OutOfSync" if syncing else "Synced"}, "operationState": {"phase": phase}}
                return self._send(200, {"spec": fake.spec, "status": status})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def argocd():
    fake = FakeArgoCD()
    yield fake
    fake.close()


def test_set_weights_changes_only_the_route_weights_then_syncs_and_waits(argocd, monkeypatch):
    monkeypatch.setattr("gourmetgram.canary.gateways.time.sleep", lambda s: None)
    gw = ArgoCDGateway(argocd.url, "s3cret")
    gw.set_weights(step_weights(25))
    params = {p["name"]: p["value"] for p in argocd.spec["source"]["helm"]["parameters"]}
    assert params == {
        "gateway.externalIP": "10.0.0.9",
        "route.backends[0].weight": "75",
        "route.backends[1].weight": "25",
    }
    assert f"POST /api/v1/applications/{APP}/sync" in argocd.calls
    assert gw.weights() == {names.PRODUCTION: 75, names.CANARY: 25}


def test_a_wrong_password_and_a_failed_sync_are_clear_errors(monkeypatch):
    monkeypatch.setattr("gourmetgram.canary.gateways.time.sleep", lambda s: None)
    fake = FakeArgoCD(fail_sync=True)
    try:
        with pytest.raises(RuntimeError, match="HTTP 401"):
            ArgoCDGateway(fake.url, "wrong")
        with pytest.raises(RuntimeError, match="sync of gourmetgram-platform Failed"):
            ArgoCDGateway(fake.url, "s3cret").set_weights(step_weights(0))
    finally:
        fake.close()
