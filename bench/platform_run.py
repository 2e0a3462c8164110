"""Run the real lifecycle commands (`invoke demo`, `invoke local.train`) in a scratch state dir.

Wall time is measured around each command; per-step times come from the
"step timings: <step> <s>s, ...; total <s>s" line the tasks print, and every
output line is timestamped as it arrives (kept in the command's log).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from gourmetgram.local.state import Ports
from gourmetgram.paths import REPO_ROOT
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV

TIMINGS_RE = re.compile(r"^step timings: (?P<steps>.*); total (?P<total>[\d.]+)s\s*$")
STEP_RE = re.compile(r"^(?P<name>.+) (?P<sec>[\d.]+)s$")


class CommandFailed(RuntimeError):
    pass


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_offset(start: int = 21000, stop: int = 40000, step: int = 97) -> int:
    """An offset that moves every default platform port (8080.., 8000, 80, Traefik API) onto free ports."""
    for offset in range(start, stop, step):
        ports = Ports.defaults(offset).named().values()
        if all(_port_free(p) for p in ports):
            return offset
    raise RuntimeError("no free port offset for the local platform found")


def parse_timings(output: str) -> tuple[dict[str, float], float | None]:
    """{'train': 41.2, 'alias development': 0.1, ...} and the total, from the tasks' timings line."""
    for line in reversed(output.splitlines()):
        m = TIMINGS_RE.match(line.strip())
        if not m:
            continue
        steps: dict[str, float] = {}
        for part in m.group("steps").split(", "):
            sm = STEP_RE.match(part.strip())
            if sm:
                name = sm.group("name")
                steps[name] = round(steps.get(name, 0.0) + float(sm.group("sec")), 2)
        return steps, float(m.group("total"))
    return {}, None


def run_invoke(args: list[str], state_dir: Path, log_path: Path, say, timeout_s: float = 1800) -> dict:
    """Run `invoke <args>` with GG_STATE_DIR; returns wall time, parsed step timings and the output."""
    env = {**os.environ, **NO_TELEMETRY_ENV, "GG_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "invoke", *args]
    say(f"  $ GG_STATE_DIR={state_dir} invoke {' '.join(args)}   (output: {log_path})")
    start = time.monotonic()
    lines: list[str] = []
    timeline: list[tuple[float, str]] = []
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(f"[{time.monotonic() - start:7.1f}s] {line}")
            lines.append(line.rstrip("\n"))
            if line.startswith("==> ") or line.startswith("== "):
                timeline.append((round(time.monotonic() - start, 2), line.rstrip()))
                say(f"    [{time.monotonic() - start:6.1f}s] {line.rstrip()}")
            if time.monotonic() - start > timeout_s:
                proc.kill()
                break
        code = proc.wait()
    wall = time.monotonic() - start
    output = "\n".join(lines)
    if code != 0:
        raise CommandFailed(f"invoke {' '.join(args)} exited with {code}; last lines:\n" + "\n".join(lines[-15:]))
    steps, total = parse_timings(output)
    return {"wall_s": round(wall, 1), "steps": steps, "reported_total_s": total, "timeline": timeline}


def between(timeline: list[tuple[float, str]], first: str, then: str) -> float | None:
    """Seconds from the first output line starting with `first` to the next one starting with `then`."""
    t0 = next((t for t, line in timeline if line.startswith(first)), None)
    t1 = next((t for t, line in timeline if line.startswith(then) and t0 is not None and t >= t0), None)
    return round(t1 - t0, 2) if t0 is not None and t1 is not None else None
