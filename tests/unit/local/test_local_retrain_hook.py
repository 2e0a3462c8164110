"""The retraining webhook (gourmetgram/local/retrain_hook.py): one training per alert, none in the cool-down.

Driven over HTTP on 127.0.0.1 with Alertmanager's payload and a short stand-in training
command (the real one is `invoke local.train`, checked separately below).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from gourmetgram import names, values
from gourmetgram.local import alerting, retrain_hook
from gourmetgram.local.state import Ports, Settings, State

REASON = "GourmetGramInputDrift: drift score 0.900 > 0.25 on production (model 1.0.3)"


def payload(status: str = "firing", retrain: str = "true", reason: str = REASON) -> dict:
    """Alertmanager's webhook JSON (version 4), trimmed to what a receiver reads."""
    return {
        "version": "4",
        "status": status,
        "receiver": "retrain",
        "groupLabels": {"alertname": "GourmetGramInputDrift", "environment": "production"},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "GourmetGramInputDrift", "environment": "production", "retrain": retrain},
                "annotations": {"reason": reason, "summary": "input drift"},
            }
        ],
    }


def stand_in(marker: Path, seconds: float = 0.0) -> list[str]:
    """A 'training' that appends its GG_TRAIN_REASON to marker (after `seconds`)."""
    code = (
        f"import os, time; time.sleep({seconds}); "
        f"open({str(marker)!r}, 'a').write(os.environ[{names.TRAIN_REASON_ENV!r}] + chr(10))"
    )
    return [sys.executable, "-c", code]


@pytest.fixture
def served(tmp_path):
    """serve(command, cooldown) -> (url, Retrainer): the hook on a free loopback port, stopped at the end."""
    servers = []

    def serve(command: list[str], cooldown: float):
        retrainer = retrain_hook.Retrainer(tmp_path / "state", command, cooldown)
        server = retrain_hook.serve("127.0.0.1", 0, retrainer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, retrainer))
        return f"http://127.0.0.1:{server.server_address[1]}/alert", retrainer

    yield serve
    for server, retrainer in servers:
        server.shutdown()
        if retrainer.proc is not None and retrainer.proc.poll() is None:
            retrainer.proc.kill()
            retrainer.proc.wait()


def post(url: str, body) -> dict:
    resp = requests.post(url, json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def decisions(retrainer: retrain_hook.Retrainer) -> list[str]:
    return [json.loads(line)["decision"] for line in retrainer.decisions_file.read_text().splitlines()]


def test_one_training_per_alert_none_inside_the_cooldown_one_after_it(served, tmp_path):
    marker = tmp_path / "trainings"
    url, retrainer = served(stand_in(marker), cooldown=3600)
    first = post(url, payload())
    assert first["decision"] == "started" and first["reasons"] == [REASON]
    retrainer.proc.wait(timeout=30)
    assert marker.read_text().splitlines() == [REASON]  # the reason reaches the training (-> MLflow tags)

    second = post(url, payload(reason="GourmetGramConfidenceDrop: again"))
    assert second["decision"] == "cooldown" and "cool-down 3600 s" in second["why"]
    assert marker.read_text().splitlines() == [REASON]

    # The cool-down is over (as if an hour passed): the next alert starts one training again.
    retrainer.cooldown = 0
    third = post(url, payload(reason="GourmetGramConfidenceDrop: later"))
    assert third["decision"] == "started"
    retrainer.proc.wait(timeout=30)
    assert marker.read_text().splitlines() == [REASON, "GourmetGramConfidenceDrop: later"]
    assert decisions(retrainer) == ["started", "cooldown", "started"]


def test_at_most_one_training_at_a_time_even_after_the_cooldown(served, tmp_path):
    marker = tmp_path / "trainings"
    url, retrainer = served(stand_in(marker, seconds=30), cooldown=0)
    assert post(url, payload())["decision"] == "started"
    second = post(url, payload())
    assert second["decision"] == "running" and str(retrainer.proc.pid) in second["why"]
    assert decisions(retrainer) == ["started", "running"]


def test_the_cooldown_survives_a_restart_of_the_hook(tmp_path):
    marker = tmp_path / "trainings"
    first = retrain_hook.Retrainer(tmp_path / "state", stand_in(marker), cooldown=3600)
    assert first.decide(payload())["decision"] == "started"
    first.proc.wait(timeout=30)
    restarted = retrain_hook.Retrainer(tmp_path / "state", stand_in(marker), cooldown=3600)
    assert restarted.decide(payload(), now=time.time() + 60)["decision"] == "cooldown"
    assert restarted.decide(payload(), now=time.time() + 3601)["decision"] == "started"
    restarted.proc.wait(timeout=30)
    assert len(marker.read_text().splitlines()) == 2


@pytest.mark.parametrize("body", [payload(status="resolved"), payload(retrain="false"), {"alerts": []}])
def test_resolved_or_unlabelled_alerts_start_nothing(served, tmp_path, body):
    url, retrainer = served(stand_in(tmp_path / "trainings"), cooldown=0)
    assert post(url, body)["decision"] == "ignored"
    assert retrainer.proc is None


def test_a_payload_that_is_not_alertmanagers_is_refused(served, tmp_path):
    url, retrainer = served(stand_in(tmp_path / "trainings"), cooldown=0)
    resp = requests.post(url, data=b"{not json", timeout=10)
    assert resp.status_code == 400
    resp = requests.post(url, json={"hello": 1}, timeout=10)
    assert resp.status_code == 400 and "no 'alerts' list" in resp.json()["error"]
    assert retrainer.proc is None


def test_the_default_command_is_exactly_local_train(tmp_path):
    from tasks import ns

    command = retrain_hook.default_command()
    assert Path(command[0]).name == "invoke" and command[1:] == ["local.train"]
    assert "local.train" in ns.task_names
    # The supervisord program passes no --command, so the hook runs that default.
    ports = iter(range(20001, 20010))
    settings = Settings(host="127.0.0.1", ports=Ports.pick(lambda: next(ports)))
    program = alerting.hook_program(State(tmp_path), settings)
    assert "--command" not in program.command
    assert program.command[program.command.index("--cooldown") + 1] == values.retrain_cooldown()
    assert program.command[program.command.index("--port") + 1] == "20009"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("6h", 21600), ("2", 2)])
def test_durations(text, seconds):
    assert retrain_hook.parse_duration(text) == seconds


def test_a_bad_duration_is_named():
    with pytest.raises(ValueError, match="not a duration: 'soon'"):
        retrain_hook.parse_duration("soon")
