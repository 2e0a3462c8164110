"""The cluster's weight mover against a stand-in Argo CD API server on 127.0.0.1 (real HTTP):
the deployer token (or a login), read the platform app, replace only the route weights, sync, wait until synced."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram import names
from gourmetgram.canary.__main__ import DEFAULT_TOKEN_FILE, main
from gourmetgram.canary.gateways import ArgoCDGateway, step_weights

APP = names.app_name(names.PLATFORM)


class FakeArgoCD:
    def __init__(self, fail_sync: bool = False, busy: bool = False):
        self.spec = {"source": {"helm": {"parameters": [{"name": "gateway.externalIP", "value": "10.0.0.9"}]}}}
        self.calls: list[str] = []
        self.sync_bodies: list[dict] = []
        self.polls_until_synced = 2
        self.fail_sync = fail_sync
        # busy: automated sync already runs an operation, so the API refuses another one (HTTP 400).
        self.busy = busy
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
                    fake.sync_bodies.append(self._body())
                    if fake.busy:
                        return self._send(400, {"error": "another operation is already in progress", "code": 9})
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
                # The operation reports the source it synced: the spec's parameters once it has finished.
                synced = {
                    "source": {"helm": {"parameters": [] if syncing else fake.spec["source"]["helm"]["parameters"]}}
                }
                operation = {"phase": phase, "syncResult": synced}
                status = {"sync": {"status": "OutOfSync" if syncing else "Synced"}, "operationState": operation}
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
    gw = ArgoCDGateway(argocd.url, "tok\n")  # as read from the mounted Secret (trailing newline)
    gw.set_weights(step_weights(25))
    params = {p["name"]: p["value"] for p in argocd.spec["source"]["helm"]["parameters"]}
    assert params == {
        "gateway.externalIP": "10.0.0.9",
        "route.backends[0].environment": "production",
        "route.backends[0].port": "8080",
        "route.backends[0].weight": "75",
        "route.backends[1].environment": "canary",
        "route.backends[1].port": "8081",
        "route.backends[1].weight": "25",
    }
    assert f"POST /api/v1/applications/{APP}/sync" in argocd.calls
    # Only the HTTPRoute is synced (no hooks, nothing else of the platform).
    (body,) = argocd.sync_bodies
    assert body["resources"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                  "name": "gourmetgram-route", "namespace": "gourmetgram-platform"}]  # fmt: skip
    assert gw.weights() == {names.PRODUCTION: 75, names.CANARY: 25}
    # The deployer's token is used as it is: no session login (the workflows have no password).
    assert "POST /api/v1/session" not in argocd.calls


def test_the_cli_reads_the_deployer_token_from_its_file(argocd, monkeypatch, tmp_path):
    monkeypatch.setattr("gourmetgram.canary.gateways.time.sleep", lambda s: None)
    assert DEFAULT_TOKEN_FILE == "/etc/argocd-deployer/token"  # where analyze-canary mounts the Secret
    token = tmp_path / "token"
    token.write_text("tok\n")
    assert main(["set-weights", "--canary", "10", "--argocd-server", argocd.url, "--token-file", str(token)]) == 0
    params = {p["name"]: p["value"] for p in argocd.spec["source"]["helm"]["parameters"]}
    assert params["route.backends[1].weight"] == "10"
    token.write_text("someone-else\n")
    assert main(["set-weights", "--default", "--argocd-server", argocd.url, "--token-file", str(token)]) == 1
    assert main(["set-weights", "--default", "--token-file", str(tmp_path / "missing")]) == 1
    assert params["route.backends[1].weight"] == "10"


def test_a_bad_token_a_wrong_password_and_a_failed_sync_are_clear_errors(monkeypatch):
    monkeypatch.setattr("gourmetgram.canary.gateways.time.sleep", lambda s: None)
    fake = FakeArgoCD(fail_sync=True)
    try:
        with pytest.raises(ValueError, match="token is empty"):
            ArgoCDGateway(fake.url, " \n")
        with pytest.raises(RuntimeError, match="HTTP 403"):
            ArgoCDGateway(fake.url, "not-the-token").weights()
        with pytest.raises(RuntimeError, match="HTTP 401"):
            ArgoCDGateway.login(fake.url, "wrong")
        with pytest.raises(RuntimeError, match="sync of gourmetgram-platform Failed"):
            ArgoCDGateway(fake.url, "tok").set_weights(step_weights(0))
        # A person's login (username + password) yields the same session token.
        assert ArgoCDGateway.login(fake.url, "s3cret").weights()
    finally:
        fake.close()


def test_an_automated_sync_already_running_is_waited_for_not_an_error(monkeypatch):
    monkeypatch.setattr("gourmetgram.canary.gateways.time.sleep", lambda s: None)
    fake = FakeArgoCD(busy=True)
    try:
        ArgoCDGateway(fake.url, "tok").set_weights(step_weights(50))
        assert ArgoCDGateway(fake.url, "tok").weights() == {names.PRODUCTION: 50, names.CANARY: 50}
        assert len(fake.sync_bodies) == 1
    finally:
        fake.close()
