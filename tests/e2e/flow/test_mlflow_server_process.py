"""gourmetgram.mlflow_server: a real server on loopback, host checks, clean stop, clear startup errors."""

from __future__ import annotations

import socket

import pytest
import requests

from gourmetgram.mlflow_server import MlflowServer, MlflowServerError


def test_server_answers_on_loopback_names(mlflow_server):
    assert mlflow_server.running()
    assert mlflow_server.url.startswith("http://127.0.0.1:")
    for host in (f"127.0.0.1:{mlflow_server.port}", f"localhost:{mlflow_server.port}"):
        r = requests.get(f"{mlflow_server.url}/api/2.0/mlflow/experiments/search?max_results=1",
                         headers={"Host": host}, timeout=10)  # fmt: skip
        assert r.status_code == 200, host


def test_server_refuses_unknown_host_header(mlflow_server):
    r = requests.get(f"{mlflow_server.url}/api/2.0/mlflow/experiments/search?max_results=1",
                     headers={"Host": "attacker.example:80"}, timeout=10)  # fmt: skip
    assert r.status_code in (400, 403)


def test_logs_go_to_the_state_dir(mlflow_server):
    assert mlflow_server.log_path.parent == mlflow_server.state_dir
    assert mlflow_server.log_path.stat().st_size > 0
    assert (mlflow_server.state_dir / "mlflow.db").is_file()


def test_early_exit_is_a_clear_error_with_the_log_tail(tmp_path):
    server = MlflowServer(tmp_path, backend_uri="nosuchscheme://x", start_timeout=60)
    with pytest.raises(MlflowServerError, match="exited with code .* before it was ready") as exc:
        server.start()
    assert "nosuchscheme" in str(exc.value)  # the log tail names the cause
    assert not server.running()


def test_stop_frees_the_port(tmp_path):
    server = MlflowServer(tmp_path).start()
    port = server.port
    server.stop()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
