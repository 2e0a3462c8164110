"""A real MLflow tracking server as a child process, for the local platform and tests.

By default: sqlite backend (<state_dir>/mlflow.db) and a local artifact
directory (<state_dir>/artifacts) served by the server itself
(--serve-artifacts), so clients need only the tracking URL. Telemetry is off.
The server's output goes to <state_dir>/mlflow-server.log; if it exits before
it is ready, the error shows the log's tail.

    with MlflowServer(tmp_path, port=free_port) as server:
        mlflow.set_tracking_uri(server.url)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from gourmetgram.errors import GourmetGramError
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV, free_port, no_telemetry_env

LOG_FILE = "mlflow-server.log"
LOG_TAIL_LINES = 30


class MlflowServerError(GourmetGramError):
    """The server did not start (the message includes its log tail)."""


def _signal_group(pgid: int, sig: int) -> bool:
    """Send sig to a process group; False if the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


class MlflowServer:
    """Start/stop `mlflow server`; `url` is the tracking URI once started.

    port=None picks a free loopback port. backend_uri defaults to sqlite in
    state_dir; artifacts_destination defaults to state_dir/artifacts (any URI
    MLflow accepts, e.g. s3://bucket with MLFLOW_S3_ENDPOINT_URL in env).
    """

    def __init__(
        self,
        state_dir: str | Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        backend_uri: str | None = None,
        artifacts_destination: str | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 90.0,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.backend_uri = backend_uri or f"sqlite:///{self.state_dir / 'mlflow.db'}"
        self.artifacts_destination = artifacts_destination or str(self.state_dir / "artifacts")
        self.extra_env = dict(env or {})
        self.start_timeout = start_timeout
        self.extra_allowed_hosts = tuple(allowed_hosts)
        self.log_path = self.state_dir / LOG_FILE
        self._proc: subprocess.Popen | None = None
        self._log_fh = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def allowed_hosts(self) -> list[str]:
        # --allowed-hosts replaces MLflow's defaults, so list every name clients use.
        hosts = [f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"{self.host}:{self.port}"]
        hosts += self.extra_allowed_hosts
        return list(dict.fromkeys(hosts))

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            self.artifacts_destination,
            "--serve-artifacts",
            "--allowed-hosts",
            ",".join(self.allowed_hosts()),
        ]

    def start(self) -> MlflowServer:
        if self._proc is not None:
            raise MlflowServerError(f"MLflow server already started at {self.url}")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if "://" not in self.artifacts_destination:
            Path(self.artifacts_destination).mkdir(parents=True, exist_ok=True)
        env = no_telemetry_env()
        env.update(self.extra_env)
        env.update(NO_TELEMETRY_ENV)
        # The job runner would start extra worker processes we do not use.
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self._log_fh = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.state_dir,
            env=env,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # stop() ends the server and its workers as a group
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise MlflowServerError(
                    f"MLflow server exited with code {code} before it was ready; {self.log_path} ends with:\n"
                    + self.log_tail()
                )
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise MlflowServerError(
            f"MLflow server at {self.url} not ready after {self.start_timeout:.0f} s; {self.log_path} ends with:\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """End the server and its uvicorn workers (one process group); wait until they are gone."""
        proc, self._proc = self._proc, None
        if proc is not None:
            # The whole group: the leader may already be gone while its workers are not.
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
            # The workers outlive the leader by a moment; the port is free only once they exit.
            deadline = time.monotonic() + timeout
            while _signal_group(proc.pid, 0) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(proc.pid, signal.SIGKILL)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a server in the foreground until Ctrl-C (for trying train/flow.py by hand)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m gourmetgram.mlflow_server", description=main.__doc__)
    p.add_argument("--state-dir", type=Path, default=Path(".state/mlflow"), help="db, artifacts and log go here")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    args = p.parse_args(argv)
    server = MlflowServer(args.state_dir, host=args.host, port=args.port)
    try:
        server.start()
    except MlflowServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"MLflow at {server.url} (log {server.log_path}); Ctrl-C stops it\nexport MLFLOW_TRACKING_URI={server.url}")
    try:
        while server.running():
            time.sleep(1)
        print(f"error: MLflow server exited; {server.log_path} ends with:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
