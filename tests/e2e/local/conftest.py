"""Real local platforms on free loopback ports, each in its own state dir, one per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gourmetgram.local import operations
from gourmetgram.local.platform import LocalPlatform
from gourmetgram.local.state import Ports
from gourmetgram.proc_helpers import free_port

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


class Recorder(list):
    """The platform's progress lines (printed too, so -s shows them)."""

    def __call__(self, line: str) -> None:
        print(line)
        self.append(line)


def _make_state_dir() -> Path:
    # World-traversable (0755): the Postgres option runs its server as user postgres.
    path = Path(tempfile.mkdtemp(prefix="gg-local-e2e-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def platform_factory():
    """make(backend=None, artifacts=None) -> a started LocalPlatform; all are stopped and removed at the end."""
    made: list[LocalPlatform] = []

    def make(backend: str | None = None, artifacts: str | None = None) -> LocalPlatform:
        p = LocalPlatform(_make_state_dir(), say=Recorder())
        made.append(p)
        ports = Ports.pick(free_port)
        operations.up(p, ports=ports, backend=backend, artifacts=artifacts)
        return p

    yield make
    for p in made:
        try:
            operations.down(p)
        finally:
            shutil.rmtree(p.state.root, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(platform_factory):
    return platform_factory()
