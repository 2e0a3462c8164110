"""A real MLflow server on a free loopback port, and the training flow run as the container runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from gourmetgram import names
from gourmetgram.mlflow_server import MlflowServer
from gourmetgram.paths import REPO_ROOT
from gourmetgram.proc_helpers import no_telemetry_env

FLOW = REPO_ROOT / "train" / "flow.py"


@dataclass
class FlowRun:
    returncode: int
    stdout: str
    stderr: str
    version_file: Path

    @property
    def version(self) -> str:
        return self.version_file.read_text().strip()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture(scope="session")
def client(mlflow_server):
    os.environ.update(no_telemetry_env({}))
    return MlflowClient(mlflow_server.url)


@pytest.fixture(scope="session")
def run_flow(mlflow_server, tmp_path_factory):
    """Run `python train/flow.py ARGS` against the test server; returns its exit code, output and version."""

    def run(*args: str, **extra_env: str) -> FlowRun:
        version_file = tmp_path_factory.mktemp("flow") / "model_version"
        env = no_telemetry_env()
        env.pop(names.TRAIN_REASON_ENV, None)
        env.update(extra_env)
        env["MLFLOW_TRACKING_URI"] = mlflow_server.url
        proc = subprocess.run(
            [sys.executable, str(FLOW), "--preset", "ci", "--version-file", str(version_file), *args],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        # Shown by pytest when a test fails.
        print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
        return FlowRun(proc.returncode, proc.stdout, proc.stderr, version_file)

    return run


@pytest.fixture(scope="session")
def trained(run_flow, tmp_path_factory):
    """The CI preset on freshly generated synthetic data; keeps the data and the trained weights."""
    work = tmp_path_factory.mktemp("trained")
    data_dir, checkpoint = work / "data", work / "ci.pth"
    result = run_flow("--synthetic", "--synthetic-dir", str(data_dir), "--save-checkpoint", str(checkpoint))
    return result, data_dir, checkpoint
