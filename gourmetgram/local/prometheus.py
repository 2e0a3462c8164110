"""Prometheus on the local platform: Debian's `prometheus` binary (2.42) under supervisord.

Not Debian's systemd unit (no systemd here, and it would listen on every interface with
/etc/prometheus): our own config under <state>/prometheus, listening on 127.0.0.1 only.
It scrapes each environment's /metrics through its Traefik entry point (so it follows
every zero-downtime deploy without being told), Traefik's own metrics on the API entry
point, and evaluates the canary recording rules from the one rules file in the chart, and
the retraining alerts, which it sends to the local Alertmanager (gourmetgram/local/alerting.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from gourmetgram import names, values
from gourmetgram.local import alerting
from gourmetgram.local.state import PlatformError, Settings, State, write_atomic
from gourmetgram.local.supervisor import Program
from gourmetgram.proc_helpers import wait_http_ok

PROGRAM = "prometheus"
RULES_FILE = values.K8S_DIR / "platform" / "files" / "prometheus" / "canary-rules.yml"
APP_JOB = "gourmetgram-app"
TRAEFIK_JOB = "traefik"


def binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise PlatformError("prometheus not found: apt-get install prometheus (./lab setup installs it)")
    return found


def scrape_interval() -> str:
    """CI-sized: the canary analysis measures windows of a few seconds locally."""
    return str(values.canary_values()["local"]["scrapeInterval"])


def config(settings: Settings) -> dict:
    host, ports = settings.host, settings.ports
    every = scrape_interval()
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every, "scrape_timeout": every},
        "rule_files": [str(RULES_FILE), str(alerting.RULES_FILE)],
        "alerting": alerting.prometheus_alerting(settings),
        "scrape_configs": [
            {
                "job_name": APP_JOB,
                "metrics_path": "/metrics",
                "static_configs": [
                    {"targets": [f"{host}:{ports.env(env)}"], "labels": {"namespace": names.namespace(env)}}
                    for env in names.ENVIRONMENTS
                ],
            },
            {
                "job_name": TRAEFIK_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{ports.traefik_api}"]}],
            },
        ],
    }


def url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.ports.prometheus}"


def program(state: State, settings: Settings) -> Program:
    root = state.path("prometheus")
    (root / "data").mkdir(parents=True, exist_ok=True)
    conf = root / "prometheus.yml"
    write_atomic(conf, yaml.safe_dump(config(settings), sort_keys=False))
    return Program(
        name=PROGRAM,
        command=[
            binary(),
            f"--config.file={conf}",
            f"--storage.tsdb.path={root / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={settings.host}:{settings.ports.prometheus}",
            "--web.enable-lifecycle",
        ],
        directory=root,
        environment={},
        priority=60,
        stopwaitsecs=20,
    )


def wait_ready(state: State, settings: Settings, timeout: float = 60.0) -> None:
    wait_http_ok("Prometheus", f"{url(settings)}/-/ready", timeout, state.logs / f"{PROGRAM}.log")


def conf_path(state: State) -> Path:
    return state.path("prometheus", "prometheus.yml")
