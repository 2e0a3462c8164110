"""One real local platform per test module, on free loopback ports, in its own state dir."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gourmetgram.local import runner
from gourmetgram.local.platform import LocalPlatform, free_port
from gourmetgram.local.state import Ports

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


class Recorder(list):
    """The platform's progress lines (printed too, so -s shows them)."""

    def __call__(self, line: str) -> None:
        print(line)
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def free_ports() -> Ports:
    return Ports(*(free_port() for _ in range(6)))


def make_state_dir() -> Path:
    # World-traversable (0755): the Postgres option runs its server as user postgres.
    path = Path(tempfile.mkdtemp(prefix="gg-local-e2e-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def platform():
    root = make_state_dir()
    p = LocalPlatform(root, say=Recorder())
    runner.up(p, ports=free_ports())
    try:
        yield p
    finally:
        try:
            runner.down(p)
        finally:
            shutil.rmtree(root, ignore_errors=True)
