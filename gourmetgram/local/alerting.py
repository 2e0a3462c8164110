"""Alerting on the local platform: Debian's Alertmanager (0.25) and the retraining webhook, under supervisord.

Prometheus (gourmetgram/local/prometheus.py) evaluates the retraining alerts of
k8s/platform/files/prometheus/retrain-alerts.yml and sends them to this Alertmanager;
its routing is the chart's file (k8s/platform/files/alertmanager/alertmanager.yml) with
the webhook URL of gourmetgram/local/retrain_hook.py, which starts `invoke local.train`.
Not Debian's systemd unit: our own config under <state>/alertmanager, on 127.0.0.1 only,
with its cluster (gossip) listener off, as it would otherwise bind every interface.
"""

from __future__ import annotations

import re
import shutil
import sys

import yaml

from gourmetgram import values
from gourmetgram.errors import UsageError
from gourmetgram.local.state import PlatformError, Settings, State, write_atomic
from gourmetgram.local.supervisor import Program
from gourmetgram.proc_helpers import wait_http_ok

ALERTMANAGER = "alertmanager"
HOOK = "retrain-hook"
RULES_FILE = values.K8S_DIR / "platform" / "files" / "prometheus" / "retrain-alerts.yml"
ROUTES_FILE = values.K8S_DIR / "platform" / "files" / "alertmanager" / "alertmanager.yml"
WEBHOOK_URL_PLACEHOLDER = "RETRAIN_WEBHOOK_URL"
# Debian names the binary prometheus-alertmanager; upstream's tarball, alertmanager.
BINARIES = ("prometheus-alertmanager", "alertmanager")


def binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise PlatformError("alertmanager not found: apt-get install prometheus-alertmanager (./lab setup installs it)")


def url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.ports.alertmanager}"


def hook_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.ports.retrain_hook}{values.retrain_values()['webhookPath']}"


def alertmanager_config(settings: Settings, timing: dict[str, str] | None = None) -> dict:
    """The chart's routing with the local webhook; timing overrides group_wait/group_interval/repeat_interval."""
    text = ROUTES_FILE.read_text().replace(WEBHOOK_URL_PLACEHOLDER, hook_url(settings))
    config = yaml.safe_load(text)
    for key, value in (timing or {}).items():
        if key not in ("group_wait", "group_interval", "repeat_interval"):
            raise UsageError(f"unknown Alertmanager timing {key!r}")
        config["route"][key] = value
    return config


def prometheus_alerting(settings: Settings) -> dict:
    """Prometheus's `alerting` block: this Alertmanager."""
    return {"alertmanagers": [{"static_configs": [{"targets": [f"{settings.host}:{settings.ports.alertmanager}"]}]}]}


def rules_text(window: str | None = None, pending: str | None = None) -> str:
    """The retraining rules; window/pending replace [10m]-style windows and `for:` (short-interval tests only)."""
    text = RULES_FILE.read_text()
    if window:
        text = re.sub(r"\[(10m|1h)\]", f"[{window}]", text)
        text = re.sub(r":(10m|1h)\b", ":window", text)  # the recorded names say the window they hold
    if pending is not None:
        text = re.sub(r"^(\s+)for: \S+$", rf"\g<1>for: {pending}", text, flags=re.M)
    return text


def alertmanager_program(state: State, settings: Settings, timing: dict[str, str] | None = None) -> Program:
    root = state.path(ALERTMANAGER)
    (root / "data").mkdir(parents=True, exist_ok=True)
    conf = root / "alertmanager.yml"
    write_atomic(conf, yaml.safe_dump(alertmanager_config(settings, timing), sort_keys=False))
    return Program(
        name=ALERTMANAGER,
        command=[
            binary(),
            f"--config.file={conf}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address={settings.host}:{settings.ports.alertmanager}",
            "--cluster.listen-address=",  # no gossip port: one Alertmanager, loopback only
        ],
        directory=root,
        environment={},
        priority=55,
        stopwaitsecs=20,
    )


def hook_program(state: State, settings: Settings, command: str = "", cooldown: str | None = None) -> Program:
    """gourmetgram.local.retrain_hook; command "" = `invoke local.train`, cooldown None = the values'."""
    args = [
        sys.executable,
        "-m",
        "gourmetgram.local.retrain_hook",
        "--state",
        str(state.root),
        "--host",
        settings.host,
        "--port",
        str(settings.ports.retrain_hook),
        "--cooldown",
        cooldown or values.retrain_cooldown(),
    ]
    if command:
        args += ["--command", command]
    return Program(name=HOOK, command=args, directory=values.REPO_ROOT, environment={}, priority=55, stopwaitsecs=10)


def programs(state: State, settings: Settings) -> list[Program]:
    return [hook_program(state, settings), alertmanager_program(state, settings)]


def wait_ready(state: State, settings: Settings, timeout: float = 60.0) -> None:
    wait_http_ok("Alertmanager", f"{url(settings)}/-/ready", timeout, state.logs / f"{ALERTMANAGER}.log")
    health = f"http://{settings.host}:{settings.ports.retrain_hook}/healthz"
    wait_http_ok("retraining webhook", health, timeout, state.logs / f"{HOOK}.log")
