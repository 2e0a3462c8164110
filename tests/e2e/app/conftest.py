"""Fixtures for the app's end-to-end tests: tiny real models and real gunicorn processes.

Each server is `gunicorn -c app/gunicorn.conf.py 'app.app:create_app()'` on a
free loopback port, exactly as the bundles and the image run it.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from gourmetgram import names
from train import export
from train.model import mobilenet_v2

REPO_ROOT = Path(__file__).resolve().parents[3]
TINY_INPUT_SIZE = 32
# Small enough that uploads over it are cheap to send, big enough for any test image.
UPLOAD_LIMIT = 1024 * 1024
TEST_VERSION = names.version_string(7)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tiny_model(out_dir: Path, fmt: str = "onnx") -> Path:
    """A tiny untrained MobileNetV2 exported in the registered-artifact format (onnx or the lab's bad state-dict)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = mobilenet_v2(width_mult=0.25)
    if fmt == "onnx":
        export.export_onnx(model, out_dir, TINY_INPUT_SIZE, names.CLASSES)
    else:
        export.export_state_dict(model, out_dir, TINY_INPUT_SIZE, names.CLASSES)
    return out_dir


def jpeg_bytes(size: tuple[int, int] = (96, 64), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


@dataclass
class AppServer:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return {int(p) for p in children.read_text().split()} if children.exists() else set()


def start_app(tmp: Path, model_dir: Path, version_file: Path, wait_ready: bool = True, **env: str) -> AppServer:
    port = free_port()
    log_path = tmp / f"gunicorn-{port}.log"
    full_env = {
        **os.environ,
        "GG_MODEL_DIR": str(model_dir),
        "GG_VERSION_FILE": str(version_file),
        "GG_WORKERS": "2",
        "GG_THREADS": "2",
        "GG_ORT_THREADS": "1",
        "GG_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "GG_ENVIRONMENT": "",
        **env,
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("wb") as log_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "app/gunicorn.conf.py"]
            + ["--bind", f"127.0.0.1:{port}", "app.app:create_app()"],
            cwd=REPO_ROOT,
            env=full_env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )
    server = AppServer(proc, f"http://127.0.0.1:{port}", log_path)
    probe = "/readyz" if wait_ready else "/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{server.log()}")
        try:
            if requests.get(server.url + probe, timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    stop_app(server)
    raise AssertionError(f"app did not answer {probe} within 60 s:\n{server.log()}")


def stop_app(server: AppServer) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="session")
def app_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-e2e")


@pytest.fixture(scope="session")
def tiny_model_dir(app_tmp) -> Path:
    return make_tiny_model(app_tmp / "good" / "model")


@pytest.fixture(scope="session")
def version_file(app_tmp) -> Path:
    path = app_tmp / "versions.txt"
    path.write_text(TEST_VERSION + "\n")
    return path


@pytest.fixture(scope="session")
def app_server(app_tmp, tiny_model_dir, version_file) -> Iterator[AppServer]:
    server = start_app(app_tmp, tiny_model_dir, version_file, GG_ENVIRONMENT="canary")
    yield server
    stop_app(server)


@pytest.fixture
def good_jpeg() -> bytes:
    return jpeg_bytes()


@pytest.fixture(scope="session")
def test_version() -> str:
    return TEST_VERSION


@pytest.fixture(scope="session")
def upload_limit() -> int:
    return UPLOAD_LIMIT


@pytest.fixture
def app_factory(app_tmp):
    """start(model_dir, version_file, wait_ready=True, **env) -> AppServer; all stopped at teardown."""
    started: list[AppServer] = []

    def start(model_dir: Path, version_file: Path, wait_ready: bool = True, **env: str) -> AppServer:
        server = start_app(app_tmp, model_dir, version_file, wait_ready=wait_ready, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_app(server)


@pytest.fixture(scope="session")
def bad_model_dir(app_tmp) -> Path:
    """The lab's bad model: model.pth (a state dict) + model.json, no model.onnx."""
    return make_tiny_model(app_tmp / "bad" / "model", fmt="state-dict")
