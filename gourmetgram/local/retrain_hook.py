"""The retraining webhook of the local platform: Alertmanager's receiver that starts `local.train`.

Alertmanager (gourmetgram/local/alerting.py) POSTs its webhook JSON here when an alert
labelled retrain="true" fires (k8s/platform/files/prometheus/retrain-alerts.yml). Each
notification gets one decision, logged and appended to <state>/retrain/decisions.jsonl:

    started      no training running and the cool-down is over: the training command starts,
                 with the alerts' reasons in GG_TRAIN_REASON (train/flow.py puts it on the MLflow run)
    running      a training this hook started is still running: at most one at a time
    cooldown     the last start is less than the cool-down ago (stored in <state>/retrain/last.json,
                 so a restarted hook keeps it)
    ignored      nothing to do: only resolved alerts, or none labelled retrain="true"

The default command is exactly `invoke local.train` (train, gate, register, staging, canary);
--command replaces it (the tests use a short stand-in).

    python -m gourmetgram.local.retrain_hook --state DIR --port N [--cooldown 6h] [--command ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.errors import BadAnswer, UsageError
from gourmetgram.local.state import STATE_ENV, write_atomic

log = logging.getLogger("gourmetgram.retrain")

RETRAIN_LABEL = "retrain"
STARTED, RUNNING, COOLDOWN, IGNORED = "started", "running", "cooldown", "ignored"


def default_command() -> list[str]:
    """`invoke local.train`, with this environment's invoke, from the repository root."""
    invoke = Path(sys.executable).parent / "invoke"
    return [str(invoke) if invoke.exists() else "invoke", "local.train"]


def parse_duration(text: str) -> float:
    """'90s', '15m', '6h', '1d' or plain seconds -> seconds; UsageError (a ValueError) naming the text."""
    text = str(text).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            seconds = float(text[:-1]) * units[text[-1]]
        else:
            seconds = float(text)
    except ValueError:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 15m, 6h)") from None
    if seconds < 0:
        raise UsageError(f"a duration cannot be negative: {text!r}")
    return seconds


def reasons(payload: dict) -> list[str]:
    """The firing retrain alerts' reasons in one Alertmanager webhook payload (version 4)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise BadAnswer("not an Alertmanager webhook payload: no 'alerts' list")
    out = []
    for alert in payload["alerts"]:
        labels = alert.get("labels") or {}
        if alert.get("status") != "firing" or labels.get(RETRAIN_LABEL) != "true":
            continue
        reason = (alert.get("annotations") or {}).get("reason") or labels.get("alertname", "alert")
        out.append(" ".join(str(reason).split()))
    return out


class Retrainer:
    """The decisions: at most one training at a time, none within the cool-down of the last start."""

    def __init__(self, state_dir: Path, command: list[str], cooldown: float, env: dict[str, str] | None = None):
        self.dir = Path(state_dir) / "retrain"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.command = command
        self.cooldown = cooldown
        self.env = env if env is not None else dict(os.environ)
        self.env[STATE_ENV] = str(Path(state_dir))
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    @property
    def last_file(self) -> Path:
        return self.dir / "last.json"

    @property
    def decisions_file(self) -> Path:
        return self.dir / "decisions.jsonl"

    def last_start(self) -> dict | None:
        try:
            return json.loads(self.last_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def decide(self, payload: dict, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        with self.lock:
            found = reasons(payload)
            last = self.last_start()
            if not found:
                decision = {"decision": IGNORED, "why": "no firing alert labelled retrain=true"}
            elif self.proc is not None and self.proc.poll() is None:
                decision = {"decision": RUNNING, "why": f"training pid {self.proc.pid} still runs"}
            elif last and now - float(last["time"]) < self.cooldown:
                until = float(last["time"]) + self.cooldown
                decision = {
                    "decision": COOLDOWN,
                    "why": f"last training started {now - float(last['time']):.0f} s ago; cool-down "
                    f"{self.cooldown:.0f} s, until {time.strftime('%H:%M:%S', time.localtime(until))}",
                }
            else:
                decision = self._start("; ".join(found), now)
            decision.update(time=now, reasons=found)
            self._record(decision)
            return decision

    def _start(self, reason: str, now: float) -> dict:
        env = dict(self.env)
        env[names.TRAIN_REASON_ENV] = reason
        out = (self.dir / "train.log").open("a")
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(self.command)}  ({reason})\n")
        out.flush()
        self.proc = subprocess.Popen(
            self.command, cwd=values.REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.close()
        write_atomic(self.last_file, json.dumps({"time": now, "pid": self.proc.pid, "reason": reason}) + "\n")
        return {"decision": STARTED, "why": f"pid {self.proc.pid}: {shlex.join(self.command)}", "pid": self.proc.pid}

    def _record(self, decision: dict) -> None:
        log.info("retrain decision: %s (%s)", decision["decision"], decision["why"])
        with self.decisions_file.open("a") as fh:
            fh.write(json.dumps(decision) + "\n")


def handler_for(retrainer: Retrainer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            try:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null")
                decision = retrainer.decide(payload)
            except ValueError as exc:  # bad JSON or not Alertmanager's payload
                return self._answer(400, {"error": str(exc)})
            return self._answer(200, decision)

        def do_GET(self):  # noqa: N802
            if self.path == "/healthz":
                return self._answer(200, {"ok": True, "last_start": retrainer.last_start()})
            return self._answer(404, {"error": "POST Alertmanager's webhook JSON to any path"})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # one line per request in the hook's log, not stderr noise
            log.debug(fmt, *args)

    return Handler


def serve(host: str, port: int, retrainer: Retrainer) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler_for(retrainer))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Alertmanager webhook that starts a retraining (local platform).")
    parser.add_argument("--state", type=Path, required=True, help="the platform's state directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cooldown", default=values.retrain_cooldown(), help="e.g. 6h, 15m, 90s")
    parser.add_argument("--command", default="", help="training command (default: invoke local.train)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    try:
        cooldown = parse_duration(args.cooldown)
    except ValueError as exc:
        parser.error(str(exc))
    command = shlex.split(args.command) if args.command else default_command()
    retrainer = Retrainer(args.state, command, cooldown)
    server = serve(args.host, args.port, retrainer)
    log.info("listening on %s:%d; cool-down %.0f s; command: %s", args.host, args.port, cooldown, shlex.join(command))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
