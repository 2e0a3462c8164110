"""End to end on 127.0.0.1: planted input shift -> Prometheus alert -> Alertmanager -> webhook -> ONE training.

The real pieces, configured by the real modules: the app under gunicorn with a model
whose drift reference training computed (train/drift_reference.py), Debian's Prometheus
with the retraining rules (windows shortened to 15 s and `for` to 0 s by
alerting.rules_text), Debian's Alertmanager with the chart's routing (waits of 1-3 s),
and the retraining webhook, whose training command is a stand-in that records the reason
(the default, `invoke local.train`, is checked in tests/unit/local/test_local_retrain_hook.py).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import yaml
from PIL import Image, ImageFilter

from gourmetgram import names
from gourmetgram.local import alerting, prometheus
from gourmetgram.local.state import Ports, Settings, State
from tests.support.app_server import free_port, make_tiny_model, start_app, wait_for
from train import drift_reference, synthetic

# Long enough that a batch fits in one window even on a loaded machine (3 xdist workers at
# load 10 took over 15 s for a batch: the window never held 200 shifted predictions).
WINDOW = "90s"
# More than the rules' 200 predictions per window, sent within one window.
BATCH = 320


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _images(seed: int, n: int, blur: float = 0.0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = synthetic.render(i % len(names.CLASSES), rng, 64)
        out.append(_jpeg(img.filter(ImageFilter.GaussianBlur(blur)) if blur else img))
    return out


def _send(session: requests.Session, url: str, images: list[bytes]) -> None:
    for data in images:
        resp = session.post(f"{url}/predict", files={"file": ("x.jpg", data, "image/jpeg")}, timeout=30)
        assert resp.status_code == 200, resp.text


def _firing(prom: str) -> list[dict]:
    resp = requests.get(f"{prom}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}'}, timeout=5)
    return resp.json()["data"]["result"]


@pytest.fixture
def stack(tmp_path):
    procs: list[subprocess.Popen] = []
    app = None

    def spawn(command: list[str], name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    def make():
        nonlocal app
        synthetic.generate(tmp_path / "data", seed=0, images_per_class=12)
        model = make_tiny_model(tmp_path / "model")
        drift_reference.attach(model, tmp_path / "data")
        version = tmp_path / "versions.txt"
        version.write_text(names.version_string(3) + "\n")
        app = start_app(tmp_path, model, version, GG_ENVIRONMENT=names.PRODUCTION)
        app_port = int(app.url.rsplit(":", 1)[1])
        ports = Ports.pick(free_port)
        ports.environments[names.PRODUCTION] = app_port  # the one app this stack scrapes
        settings = Settings(host="127.0.0.1", ports=ports)
        state = State(tmp_path / "state")
        marker = tmp_path / "trainings"
        record = f"open('{marker}', 'a').write(os.environ['{names.TRAIN_REASON_ENV}'] + chr(10))"
        stand_in = f'{sys.executable} -c "import os; {record}"'
        hook = alerting.hook_program(state, settings, command=stand_in, cooldown="1h")
        spawn(hook.command, "hook")
        am = alerting.alertmanager_program(
            state, settings, timing={"group_wait": "1s", "group_interval": "2s", "repeat_interval": "3s"}
        )
        spawn(am.command, "alertmanager")
        prom = prometheus.program(state, settings)
        conf_path = prometheus.conf_path(state)
        conf = yaml.safe_load(conf_path.read_text())
        rules = tmp_path / "retrain-alerts.short.yml"
        rules.write_text(alerting.rules_text(window=WINDOW, pending="0s"))
        conf["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
        conf["rule_files"] = [str(rules)]
        conf_path.write_text(yaml.safe_dump(conf))
        spawn(prom.command, "prometheus")
        prometheus.wait_ready(state, settings)
        alerting.wait_ready(state, settings)
        return app, settings, state, marker

    yield make
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if app is not None:
        app.stop()


def test_blurred_inputs_raise_the_drift_alert_and_the_webhook_starts_one_training(stack, tmp_path):
    start = time.monotonic()
    app, settings, state, marker = stack()
    prom = prometheus.url(settings)
    session = requests.Session()

    # In-distribution traffic (fresh images, another seed than the reference's): no alert, no training.
    _send(session, app.url, _images(seed=7, n=BATCH))
    time.sleep(3)  # a few scrapes and evaluations
    assert _firing(prom) == []
    assert not marker.exists()

    # The planted shift: the same kind of images, blurred.
    shifted = time.monotonic()
    _send(session, app.url, _images(seed=8, n=BATCH, blur=2.0))
    wait_for(marker.exists, 120, interval=0.2, what="the webhook's training")  # a ceiling, not a speed check
    delay = time.monotonic() - shifted
    (alert,) = [a for a in _firing(prom) if a["metric"]["alertname"] == "GourmetGramInputDrift"]
    assert alert["metric"]["environment"] == names.PRODUCTION

    # Alertmanager repeats the notification every 3 s: inside the cool-down, none starts another training.
    decisions_file = state.path("retrain", "decisions.jsonl")
    wait_for(lambda: len(decisions_file.read_text().splitlines()) >= 3, 60, what="two repeated notifications")
    decisions = [json.loads(line) for line in decisions_file.read_text().splitlines()]
    assert [d["decision"] for d in decisions][:3] == ["started", "cooldown", "cooldown"]
    (reason,) = marker.read_text().splitlines()
    assert reason.startswith("GourmetGramInputDrift: drift score") and "on production (model 1.0.3)" in reason
    print(f"\ndetection: {delay:.1f} s after the shift started; whole check {time.monotonic() - start:.1f} s")
