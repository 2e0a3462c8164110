"""Start and stop the servers under test: free loopback ports, logs to files, wait until ready."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

# The product's helpers: MLflow must never phone home, from any process the benchmarks start.
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV


def rss_kib(pid: int) -> int:
    """Resident memory of one process in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn workers of a master)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (from /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (gunicorn master + workers)."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        total += cpu_seconds(p)
        stack.extend(children(p))
    return total


class Server:
    """A server process in its own process group, logging to a file, stopped on exit."""

    def __init__(
        self, name: str, cmd: list[str], url: str, ready_path: str, log_path: Path, env: dict | None = None, cwd=None
    ):
        self.name, self.cmd, self.url, self.log_path = name, cmd, url, log_path
        self.ready_url = url + ready_path
        self.env = {**os.environ, **NO_TELEMETRY_ENV, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120.0) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited with {code} before it was ready:\n{self.log_tail()}")
            try:
                if requests.get(self.ready_url, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready at {self.ready_url} after {timeout_s:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
