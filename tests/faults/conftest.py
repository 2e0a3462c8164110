"""Fixtures for the fault tests: real gunicorn apps, a real local platform, bounded load loops.

Everything binds 127.0.0.1 on free ports. Measurements the tests make (failures
during a kill, recovery time, memory) are collected in FAULT_REPORT and printed in
a "fault report" section at the end of the pytest run.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from gourmetgram import names
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV, free_port
from tests.support.app_server import AppServer, child_pids, jpeg_bytes, make_tiny_model, start_app, wait_for
from tests.support.teardown import stop_all_after

os.environ.update(NO_TELEMETRY_ENV)
# The load loops post a bigger photo than the app's own e2e tests.
LOAD_JPEG_SIZE = (160, 120)

# name -> measurements; printed by pytest_terminal_summary below.
FAULT_REPORT: dict[str, dict] = {}


def pytest_sessionfinish(session, exitstatus):
    # An xdist worker sends its measurements to the controller, which prints the report.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_report"] = json.dumps(FAULT_REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    FAULT_REPORT.update(json.loads(getattr(node, "workeroutput", {}).get("fault_report", "{}")))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FAULT_REPORT:
        return
    terminalreporter.section("fault report (measured, not asserted as times)")
    for name, numbers in FAULT_REPORT.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_fault_app(tmp: Path, model_dir: Path, version: int = 1, **env: str) -> AppServer:
    """A real gunicorn app serving version 1.0.<version>, returned once /readyz answers and all workers run."""
    fd, name = tempfile.mkstemp(prefix="versions-", suffix=".txt", dir=tmp)
    os.close(fd)
    version_file = Path(name)
    version_file.write_text(names.version_string(version) + "\n")
    # No planned worker recycling: every worker change is a fault.
    return start_app(tmp, model_dir, version_file, wait_workers=True, **{"GG_MAX_REQUESTS": "0", **env})


def _accepts(host: str, port: int) -> bool:
    """True while something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


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
    jpeg: bytes = field(default_factory=lambda: jpeg_bytes(LOAD_JPEG_SIZE))
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

    def recovery(self, fault_at: float) -> Recovery:
        """How the requests went from fault_at (a now() value) on; call after stop()."""
        return Recovery.of(self.stop(), fault_at)


@dataclass
class Recovery:
    """The outcomes of a load loop split at the moment of a fault (kill, restart)."""

    outcomes: list[Outcome]  # the whole run, in time order
    fault_at: float
    after: list[Outcome]  # from the fault on
    failures: list[Outcome]  # failed requests from the fault on
    last_failure: float  # time of the last failure, fault_at if none failed
    tail: list[Outcome]  # requests after the last failure

    @classmethod
    def of(cls, outcomes: list[Outcome], fault_at: float) -> Recovery:
        after = [o for o in outcomes if o.t >= fault_at]
        failures = [o for o in after if not o.ok]
        last_failure = max((o.t for o in failures), default=fault_at)
        tail = [o for o in after if o.t > last_failure]
        return cls(outcomes, fault_at, after, failures, last_failure, tail)

    def report(self) -> dict:
        """The fault report's numbers for this run (measured, not asserted)."""
        return {
            "requests": len(self.outcomes),
            "failed": len(self.failures),
            "failure_kinds": sorted({o.detail for o in self.failures}),
            "all_ok_again_after_s": round(self.last_failure - self.fault_at, 2),
        }


@pytest.fixture(scope="session")
def faults_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def tiny_model(faults_tmp) -> Path:
    return make_tiny_model(faults_tmp / "tiny" / "model")


@pytest.fixture
def app_factory(faults_tmp) -> Iterator:
    """start(model_dir, **env) -> AppServer (ready, all workers up); all stopped at teardown."""

    def start(model_dir: Path, **env: str) -> AppServer:
        return start_fault_app(faults_tmp, model_dir, **env)

    yield from stop_all_after(start)


@pytest.fixture(scope="session")
def fault_report() -> dict[str, dict]:
    """Measurements to print in the run's "fault report" section: fault_report[name] = {...}."""
    return FAULT_REPORT


@pytest.fixture
def load_loop() -> Iterator:
    """load_loop(url, clients=4, max_requests=2000, max_seconds=120) -> a started LoadLoop; stopped at teardown."""

    def start(url: str, **kwargs) -> LoadLoop:
        return LoadLoop(url, **kwargs).start()

    yield from stop_all_after(start)


@pytest.fixture(scope="session")
def wait():
    """wait(predicate, timeout, what=...) -> the predicate's truthy value, or fail after the timeout."""
    return wait_for


@pytest.fixture(scope="module")
def module_app(faults_tmp, tiny_model) -> Iterator[AppServer]:
    """One real gunicorn app (tiny model, 2 workers) shared by a test module."""
    app = start_fault_app(faults_tmp, tiny_model)
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

        plat = self.platform
        return Lifecycle(target=plat.target, registry=plat.registry(), say=self.say, staging_timeout=30)

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
        # supervisord reports STOPPED when `mlflow server` exits, but its uvicorn workers can
        # still answer for a moment while they shut down: MLflow is only "down" once the
        # port refuses connections.
        url = urlsplit(services.mlflow_url(self.platform.settings))
        wait_for(lambda: not _accepts(url.hostname, url.port), 60, what="MLflow's port closed")

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
    plat.configure(ports=Ports.pick(free_port))
    try:
        plat.up()
        yield harness
    finally:
        plat.down()


@pytest.fixture(scope="session")
def rss_kib_fn():
    return rss_kib
