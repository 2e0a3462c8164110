"""supervisord runs and restarts every long-lived process of the local platform.

Why supervisord: this machine has no systemd as PID 1, and the platform's
processes (gunicorn masters, Traefik, MLflow, Postgres, rclone) must outlive the
invoke command that started them and come back by themselves when they crash.
gunicorn's master already restarts its workers; supervisord restarts the master.

Each process is one program file under <state>/supervisor/programs/*.conf, so
`down` (supervisord shutdown) then `up` (supervisord start) brings back exactly
the same processes. Programs are added and removed at run time through
supervisord's XML-RPC API on a unix socket (reloadConfig + addProcessGroup).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from gourmetgram.local.state import PlatformError, State, write_atomic

RUNNING_STATES = {"RUNNING"}
FAILED_STATES = {"FATAL", "EXITED", "BACKOFF", "UNKNOWN"}


@dataclass
class Program:
    name: str
    command: list[str]
    directory: Path
    environment: dict[str, str]
    user: str = ""
    startsecs: int = 1
    startretries: int = 3
    stopsignal: str = "TERM"
    stopwaitsecs: int = 30
    priority: int = 500

    def render(self, log: Path) -> str:
        def quote(arg: str) -> str:
            # supervisord splits commands with shlex; %% escapes its own %(name)s expansion.
            return shlex.quote(str(arg).replace("%", "%%"))

        env = ",".join(f'{k}="{str(v).replace("%", "%%")}"' for k, v in sorted(self.environment.items()))
        lines = [
            f"[program:{self.name}]",
            "command=" + " ".join(quote(a) for a in self.command),
            f"directory={self.directory}",
            f"environment={env}" if env else "",
            f"user={self.user}" if self.user else "",
            "autostart=true",
            "autorestart=true",
            f"startsecs={self.startsecs}",
            f"startretries={self.startretries}",
            f"stopsignal={self.stopsignal}",
            f"stopwaitsecs={self.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            f"priority={self.priority}",
            "redirect_stderr=true",
            f"stdout_logfile={log}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
        ]
        return "\n".join(line for line in lines if line) + "\n"


class Supervisor:
    def __init__(self, state: State):
        self.state = state
        self.dir = state.path("supervisor")
        self.programs_dir = self.dir / "programs"
        self.conf = self.dir / "supervisord.conf"
        self.socket = self.dir / "supervisor.sock"
        self.pidfile = self.dir / "supervisord.pid"

    # -- daemon -------------------------------------------------------------------------------
    def _write_conf(self) -> None:
        self.programs_dir.mkdir(parents=True, exist_ok=True)
        self.state.logs.mkdir(parents=True, exist_ok=True)
        write_atomic(
            self.conf,
            "\n".join(
                [
                    "[unix_http_server]",
                    f"file={self.socket}",
                    "chmod=0700",
                    "[supervisord]",
                    f"logfile={self.state.logs / 'supervisord.log'}",
                    f"pidfile={self.pidfile}",
                    f"directory={self.state.root}",
                    "user=root" if os.geteuid() == 0 else "",
                    "[rpcinterface:supervisor]",
                    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                    "[supervisorctl]",
                    f"serverurl=unix://{self.socket}",
                    "[include]",
                    f"files={self.programs_dir}/*.conf",
                    "",
                ]
            ),
        )

    def rpc(self):
        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self.rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def start(self, timeout: float = 30.0) -> None:
        """Start supervisord (daemonised); it starts every program file present."""
        if self.running():
            return
        self._write_conf()
        exe = shutil.which("supervisord", path=str(Path(sys.executable).parent)) or "supervisord"
        env = dict(os.environ)
        env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
        subprocess.run([exe, "-c", str(self.conf)], check=True, env=env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                raise PlatformError(f"supervisord did not start; see {self.state.logs / 'supervisord.log'}")
            time.sleep(0.2)

    def shutdown(self, timeout: float = 90.0) -> None:
        """Stop every program (gracefully) and supervisord itself."""
        if not self.running():
            return
        pid = self._pid()
        try:
            self.rpc().supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault):
            pass
        deadline = time.monotonic() + timeout
        while pid and _alive(pid):
            if time.monotonic() > deadline:
                raise PlatformError(f"supervisord (pid {pid}) did not stop within {timeout:.0f}s")
            time.sleep(0.2)

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    # -- programs -----------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.state.logs / f"{name}.log"

    def add(self, program: Program) -> None:
        """Write the program file and start it (supervisord must be running)."""
        write_atomic(self.programs_dir / f"{program.name}.conf", program.render(self.log_path(program.name)))
        server = self.rpc()
        server.supervisor.reloadConfig()
        try:
            server.supervisor.addProcessGroup(program.name)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_ADDED" not in fault.faultString:
                raise

    def remove(self, name: str) -> None:
        """Stop the program gracefully and forget it."""
        (self.programs_dir / f"{name}.conf").unlink(missing_ok=True)
        if not self.running():
            return
        server = self.rpc()
        try:
            server.supervisor.stopProcessGroup(name, True)
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" in fault.faultString:
                return
            if "NOT_RUNNING" not in fault.faultString:
                raise
        try:
            server.supervisor.removeProcessGroup(name)
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" not in fault.faultString:
                raise
        server.supervisor.reloadConfig()

    def info(self, name: str) -> dict | None:
        try:
            return self.rpc().supervisor.getProcessInfo(name)
        except xmlrpc.client.Fault:
            return None
        except OSError:
            return None

    def all_info(self) -> dict[str, dict]:
        if not self.running():
            return {}
        return {p["name"]: p for p in self.rpc().supervisor.getAllProcessInfo()}

    def program_names(self) -> list[str]:
        return sorted(p.stem for p in self.programs_dir.glob("*.conf"))

    def tail(self, name: str, lines: int = 20) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
