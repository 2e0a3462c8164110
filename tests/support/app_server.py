"""Real app servers for tests: tiny real models, test JPEGs and gunicorn processes on free loopback ports.

Each server is `gunicorn -c app/gunicorn.conf.py 'app.app:create_app()'`, exactly as
the bundles and the image run it. Used by tests/e2e/app and tests/faults.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
import torch
from PIL import Image

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT
from gourmetgram.proc_helpers import free_port
from train import export
from train.model import mobilenet_v2

__all__ = [
    "AppServer",
    "TINY_INPUT_SIZE",
    "child_pids",
    "jpeg_bytes",
    "make_tiny_model",
    "start_app",
    "wait_for",
]

TINY_INPUT_SIZE = 32
READY_TIMEOUT_S = 60.0


def make_tiny_model(out_dir: Path, fmt: str = "onnx", seed: int = 0) -> Path:
    """A tiny untrained MobileNetV2 in the registered-artifact layout: onnx, or the lab's bad state-dict."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = mobilenet_v2(width_mult=0.25)
    if fmt == "onnx":
        export.export_onnx(model, out_dir, TINY_INPUT_SIZE, names.CLASSES)
    else:
        export.export_state_dict(model, out_dir, TINY_INPUT_SIZE, names.CLASSES)
    return out_dir


def jpeg_bytes(size: tuple[int, int] = (96, 64), seed: int = 0) -> bytes:
    """A random-noise RGB JPEG of size (width, height); the same bytes for the same seed."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def child_pids(pid: int) -> set[int]:
    """Direct children of a process (a gunicorn master's workers); empty once it is gone."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return {int(p) for p in path.read_text().split()}
    except FileNotFoundError:
        return set()


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy; return its value, or fail after timeout (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")


@dataclass
class AppServer:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        return child_pids(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_app(
    tmp: Path, model_dir: Path, version_file: Path, *, wait_ready: bool = True, wait_workers: bool = False, **env: str
) -> AppServer:
    """Start gunicorn on a free port, logging to tmp; wait until it answers /readyz (or /healthz if not wait_ready).

    env is added to (and overrides) GG_MODEL_DIR, GG_VERSION_FILE, GG_WORKERS=2, GG_ORT_THREADS=1.
    wait_workers: after /readyz, also wait until all GG_WORKERS workers run.
    """
    port = free_port()
    log_path = tmp / f"gunicorn-{port}.log"
    full_env = {
        **os.environ,
        "GG_MODEL_DIR": str(model_dir),
        "GG_VERSION_FILE": str(version_file),
        "GG_WORKERS": "2",
        "GG_ORT_THREADS": "1",
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
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{server.log()}")
        try:
            if requests.get(server.url + probe, timeout=2).status_code == 200:
                if wait_workers:
                    wait_for(lambda: len(server.workers()) == int(full_env["GG_WORKERS"]), 30, what="all workers up")
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"app did not answer {probe} within {READY_TIMEOUT_S:.0f} s:\n{server.log()}")
