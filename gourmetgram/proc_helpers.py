"""Helpers for starting and waiting on local processes: a free port, a poll with a deadline,
and the environment that keeps MLflow's telemetry off (the project's network rule).

Used by the local platform, the MLflow server wrapper, train/flow.py, the tests and bench.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from gourmetgram.errors import NotReady

NO_TELEMETRY_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def no_telemetry_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of base (default os.environ) with MLflow's telemetry switched off."""
    env = dict(os.environ if base is None else base)
    env.update(NO_TELEMETRY_ENV)
    return env


def wait_until(what: str, check: Callable[[], object], timeout: float, log_hint: Path | None = None) -> None:
    """Poll check() until it is truthy; NotReady naming `what` (and where to look) after timeout."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # any failure of the probe means "not yet"
            last = f" (last error: {str(exc).splitlines()[0][:200]})"
        time.sleep(0.3)
    hint = f"; see {log_hint}" if log_hint else ""
    raise NotReady(f"{what} not ready within {timeout:.0f}s{last}{hint}")


def wait_http_ok(name: str, url: str, timeout: float, log_hint: Path | None = None) -> None:
    """wait_until a GET of url answers 200 (a service's ready/health endpoint); NotReady names it."""
    import requests  # here, not at the top: the controller's import closure stays small

    wait_until(f"{name} at {url}", lambda: requests.get(url, timeout=2).status_code == 200, timeout, log_hint)
