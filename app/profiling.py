"""Per-request CPU breakdown of POST /predict, off unless GG_PROFILE_DIR is set.

    GG_PROFILE_DIR=/tmp/prof gunicorn -c app/gunicorn.conf.py 'app.app:create_app()'

With it set, every /predict request records the CPU time of the thread that
serves it (time.thread_time_ns, so other requests and other processes do not
count) between named laps: multipart parse, decode, preprocess, inference, ... .
Each worker keeps running totals, and a thread of its own writes them to
<dir>/<pid>.json twice a second; `python -m bench` sums the files before and
after a load run.

Off (the default) every call below returns at its first line: the hot path
pays one global lookup and one branch per lap.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from pathlib import Path

PROFILE_ENV = "GG_PROFILE_DIR"
DUMP_EVERY_S = 0.5

_dir = os.environ.get(PROFILE_ENV) or None
ENABLED = _dir is not None

_local = threading.local()
_lock = threading.Lock()
_totals: dict[str, int] = {}
_requests = 0
_dumper: threading.Thread | None = None


def start() -> None:
    """A profiled request begins on this thread (the WSGI entry)."""
    global _dumper
    if not ENABLED:
        return
    if _dumper is None:  # first request of this worker (after the fork: threads do not survive it)
        with _lock:
            if _dumper is None:
                _dumper = threading.Thread(target=_dump_forever, name="gg-profile-dump", daemon=True)
                _dumper.start()
    _local.laps = {}
    _local.t = time.thread_time_ns()


def lap(name: str) -> None:
    """Charge the CPU time since the previous lap (or start) to `name`."""
    if not ENABLED or getattr(_local, "laps", None) is None:
        return
    now = time.thread_time_ns()
    _local.laps[name] = _local.laps.get(name, 0) + now - _local.t
    _local.t = now


def finish(count: bool) -> None:
    """The request is answered; add its laps to this worker's totals when `count`."""
    global _requests
    if not ENABLED:
        return
    laps, _local.laps = getattr(_local, "laps", None), None
    if not count or laps is None:
        return
    with _lock:
        for name, ns in laps.items():
            _totals[name] = _totals.get(name, 0) + ns
        _requests += 1


def _dump_forever() -> None:
    while True:
        dump()
        time.sleep(DUMP_EVERY_S)


def dump() -> None:
    """Write this worker's totals (atomically: the bench may read at any time)."""
    if not ENABLED:
        return
    with _lock:
        body = json.dumps({"requests": _requests, "cpu_ns": dict(_totals)})
    path = Path(_dir) / f"{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(body)
    os.replace(tmp, path)


def read(directory: str | Path) -> dict:
    """Sum of every worker's file: {"requests": n, "cpu_ns": {lap: ns}} (the bench's side)."""
    out: dict = {"requests": 0, "cpu_ns": {}}
    for f in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        out["requests"] += data.get("requests", 0)
        for name, ns in data.get("cpu_ns", {}).items():
            out["cpu_ns"][name] = out["cpu_ns"].get(name, 0) + ns
    return out


class ProfileMiddleware:
    """WSGI wrapper: starts the laps at entry, charges the response's iteration and close to 'wsgi_out'."""

    def __init__(self, wsgi_app, path: str = "/predict"):
        self.wsgi_app = wsgi_app
        self.path = path

    def __call__(self, environ, start_response):
        start()
        result = self.wsgi_app(environ, start_response)
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            lap("wsgi_out")
            finish(environ.get("PATH_INFO") == self.path)


if ENABLED:
    atexit.register(dump)


def diff(after: dict, before: dict) -> dict:
    """Totals of the requests between two read()s."""
    names = set(after["cpu_ns"]) | set(before["cpu_ns"])
    return {
        "requests": after["requests"] - before["requests"],
        "cpu_ns": {n: after["cpu_ns"].get(n, 0) - before["cpu_ns"].get(n, 0) for n in names},
    }
