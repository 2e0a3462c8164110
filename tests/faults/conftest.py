"""Fixtures for the fault tests: real gunicorn apps, a real local platform, bounded load loops.

Everything binds 127.0.0.1 on free ports. Measurements the tests make (failures
during a kill, recovery time, memory) are collected in FAULT_REPORT and printed in
a "fault report" section at the end of the pytest run.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from gourmetgram import names
from train import export
from train.model import mobilenet_v2

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY_INPUT_SIZE = 32
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
os.environ.update(NO_TELEMETRY)

# name -> measurements; printed by pytest_terminal_summary below.
FAULT_REPORT: dict[str, dict] = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FAULT_REPORT:
        return
    terminalreporter.section("fault report (measured, not asserted as times)")
    for name, numbers in FAULT_REPORT.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """A tiny untrained MobileNetV2 in the registered-artifact layout (model.onnx + model.json)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    export.export_onnx(mobilenet_v2(width_mult=0.25), out_dir, TINY_INPUT_SIZE, names.CLASSES)
    return out_dir


def jpeg_bytes(size: tuple[int, int] = (160, 120), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_pids(pid: int) -> set[int]:
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
class AppProcess:
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


def start_app(tmp: Path, model_dir: Path, version: int = 1, **env: str) -> AppProcess:
    """gunicorn -c app/gunicorn.conf.py 'app.app:create_app()', as bundles and images run it."""
    port = free_port()
    version_file = tmp / f"versions-{port}.txt"
    version_file.write_text(names.version_string(version) + "\n")
    log_path = tmp / f"gunicorn-{port}.log"
    full_env = {
        **os.environ,
        "GG_MODEL_DIR": str(model_dir),
        "GG_VERSION_FILE": str(version_file),
        "GG_WORKERS": "2",
        "GG_ORT_THREADS": "1",
        "GG_MAX_REQUESTS": "0",  # no planned worker recycling: every worker change is a fault
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
    app = AppProcess(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{app.log()}")
        try:
            if requests.get(app.url + "/readyz", timeout=2).status_code == 200:
                wait_for(lambda: len(app.workers()) == int(full_env["GG_WORKERS"]), 30, what="all workers up")
                return app
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    app.stop()
    raise AssertionError(f"app not ready within 60 s:\n{app.log()}")


@dataclass
class Outcome:
    t: float  # seconds since the loop started
    ok: bool
    detail: str  # status code or exception class
    body: str = ""


@dataclass
class LoadLoop:
    """Closed-loop clients in background threads, each bounded by a request count and a deadline."""

    url: str
    clients: int = 4
    max_requests: int = 2000
    max_seconds: float = 120.0
    jpeg: bytes = field(default_factory=jpeg_bytes)
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.start_time = 0.0

    def _client(self) -> None:
        session = requests.Session()
        per_client = self.max_requests // self.clients
        for _ in range(per_client):
            if self._stop.is_set() or time.monotonic() - self.start_time > self.max_seconds:
                return
            t0 = time.monotonic() - self.start_time
            try:
                r = session.post(self.url, files={"file": ("food.jpg", self.jpeg, "image/jpeg")}, timeout=30)
                outcome = Outcome(t0, r.status_code == 200, str(r.status_code), r.text[:200])
            except requests.RequestException as exc:
                outcome = Outcome(t0, False, type(exc).__name__)
                session = requests.Session()  # a broken pooled connection must not poison the next request
            with self._lock:
                self.outcomes.append(outcome)

    def start(self) -> LoadLoop:
        self.start_time = time.monotonic()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for t in self._threads:
            t.start()
        return self

    def now(self) -> float:
        return time.monotonic() - self.start_time

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        with self._lock:
            return sorted(self.outcomes, key=lambda o: o.t)

    def wait_done(self) -> list[Outcome]:
        for t in self._threads:
            t.join(timeout=self.max_seconds + 60)
        return self.stop()


@pytest.fixture(scope="session")
def faults_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def tiny_model(faults_tmp) -> Path:
    return make_tiny_model(faults_tmp / "tiny" / "model")


@pytest.fixture
def app_factory(faults_tmp) -> Iterator:
    started: list[AppProcess] = []

    def start(model_dir: Path, **env: str) -> AppProcess:
        app = start_app(faults_tmp, model_dir, **env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def fault_report() -> dict[str, dict]:
    """Measurements to print in the run's "fault report" section: fault_report[name] = {...}."""
    return FAULT_REPORT


@pytest.fixture
def load_loop() -> Iterator:
    """load_loop(url, clients=4, max_requests=2000, max_seconds=120) -> a started LoadLoop; stopped at teardown."""
    loops: list[LoadLoop] = []

    def start(url: str, **kwargs) -> LoadLoop:
        loop = LoadLoop(url, **kwargs).start()
        loops.append(loop)
        return loop

    yield start
    for loop in loops:
        loop.stop()


@pytest.fixture(scope="session")
def wait():
    """wait(predicate, timeout, what=...) -> the predicate's truthy value, or fail after the timeout."""
    return wait_for


@pytest.fixture(scope="module")
def module_app(faults_tmp, tiny_model) -> Iterator[AppProcess]:
    """One real gunicorn app (tiny model, 2 workers) shared by a test module."""
    app = start_app(faults_tmp, tiny_model)
    yield app
    app.stop()


# -- the local platform ----------------------------------------------------------------------------
@dataclass
class PlatformHarness:
    """A real local platform (supervisord, Traefik, MLflow, gunicorn apps) on free loopback ports."""

    platform: object  # gourmetgram.local.platform.LocalPlatform
    tmp: Path
    messages: list[str] = field(default_factory=list)
    _versions: int = 0

    def say(self, msg: str) -> None:
        self.messages.append(msg)
        print(msg)

    def register(self, model_dir: Path | None = None, seed: int | None = None) -> int:
        """Register a model version the way train/flow.py does (artifact dir model/ on a run); return N."""
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        if model_dir is None:
            self._versions += 1
            model_dir = make_tiny_model(self.tmp / f"model-{self._versions}" / "model", seed=seed or self._versions)
        client = MlflowClient(tracking_uri=self.platform.mlflow_url, registry_uri=self.platform.mlflow_url)
        exp = client.get_experiment_by_name(names.EXPERIMENT)
        exp_id = exp.experiment_id if exp else client.create_experiment(names.EXPERIMENT)
        run = client.create_run(exp_id)
        client.log_artifacts(run.info.run_id, str(model_dir), artifact_path="model")
        client.set_terminated(run.info.run_id)
        try:
            client.create_registered_model(names.MODEL_NAME)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                raise
        mv = client.create_model_version(
            names.MODEL_NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        return int(mv.version)

    def lifecycle(self):
        from gourmetgram.lifecycle.steps import Lifecycle

        return Lifecycle(target=self.platform, registry=self.platform.registry(), say=self.say, staging_timeout=30)

    def served_version(self, env_or_url: str) -> str:
        url = env_or_url if "://" in env_or_url else self.platform.url(env_or_url)
        try:
            return requests.get(f"{url}/version", timeout=5).json()["model_version"]
        except (requests.RequestException, ValueError, KeyError):
            return ""

    def aliases(self) -> dict[str, int]:
        return self.platform.registry().aliases()

    def stop_mlflow(self) -> None:
        from gourmetgram.local import services

        self.platform.supervisor.rpc().supervisor.stopProcess(services.MLFLOW, True)

    def start_mlflow(self) -> None:
        from gourmetgram.local import services

        info = self.platform.supervisor.info(services.MLFLOW) or {}
        if info.get("statename") != "RUNNING":
            self.platform.supervisor.rpc().supervisor.startProcess(services.MLFLOW, True)
        services.wait_mlflow(self.platform.state, self.platform.settings, timeout=120)

    def app_pids(self) -> dict[str, list[int]]:
        """program -> [gunicorn master, workers...] for every app environment deployed now."""
        out = {}
        for env, cur in self.platform.state.deployments().current.items():
            info = self.platform.supervisor.info(cur.program) or {}
            pid = int(info.get("pid") or 0)
            if pid:
                out[env] = [pid, *sorted(child_pids(pid))]
        return out


@pytest.fixture(scope="session")
def platform_harness(tmp_path_factory) -> Iterator[PlatformHarness]:
    """One local platform for all platform fault tests; every test leaves it serving."""
    from gourmetgram.local.platform import LocalPlatform
    from gourmetgram.local.state import Ports

    tmp = tmp_path_factory.mktemp("faults-platform")
    harness = PlatformHarness(platform=None, tmp=tmp)
    plat = LocalPlatform(root=tmp / "state", say=harness.say)
    harness.platform = plat
    plat.configure(
        ports=Ports(
            staging=free_port(),
            canary=free_port(),
            production=free_port(),
            gateway=free_port(),
            mlflow=free_port(),
            traefik_api=free_port(),
        )
    )
    try:
        plat.up()
        yield harness
    finally:
        plat.down()


@pytest.fixture(scope="session")
def rss_kib_fn():
    return rss_kib
