"""Ports, weights and image settings, read from the Helm values in k8s/.

The Helm values are the one source of truth for ports and weights; the local
platform and the tests read them through this module instead of repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from gourmetgram import names
from gourmetgram.errors import BadAnswer
from gourmetgram.paths import REPO_ROOT

K8S_DIR = REPO_ROOT / "k8s"


@cache
def chart_values(chart: str) -> dict:
    """The parsed values.yaml of k8s/<chart>."""
    path = K8S_DIR / chart / "values.yaml"
    try:
        with path.open() as fh:
            return yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"Helm values not found: {path}") from None


def env_port(env: str) -> int:
    """Service port of an app environment (staging 8082, canary 8081, production 8080)."""
    names.check_env(env)  # a path under k8s/ is built from it
    return int(chart_values(env)["service"]["port"])


def container_port() -> int:
    """Port the app listens on inside its container (and gunicorn locally)."""
    return int(chart_values(names.STAGING)["containerPort"])


def gateway_port() -> int:
    return int(chart_values(names.PLATFORM)["gateway"]["port"])


def mlflow_port() -> int:
    return int(chart_values(names.PLATFORM)["mlflow"]["port"])


def artifact_bucket() -> str:
    return str(chart_values(names.PLATFORM)["mlflow"]["bucket"])


@dataclass(frozen=True)
class Backend:
    environment: str
    port: int
    weight: int


def route_backends() -> tuple[Backend, ...]:
    """The gateway's weighted backends; weights add up to 100."""
    raw = chart_values(names.PLATFORM)["route"]["backends"]
    backends = tuple(Backend(b["environment"], int(b["port"]), int(b["weight"])) for b in raw)
    total = sum(b.weight for b in backends)
    if total != 100:
        raise BadAnswer(f"route weights in k8s/platform/values.yaml add up to {total}, expected 100")
    for b in backends:
        if b.port != env_port(b.environment):
            raise BadAnswer(
                f"route backend {b.environment} uses port {b.port}, "
                f"but k8s/{b.environment}/values.yaml says {env_port(b.environment)}"
            )
    return backends


def route_weights() -> dict[str, int]:
    """{'production': 90, 'canary': 10}"""
    return {b.environment: b.weight for b in route_backends()}


def prometheus_port() -> int:
    return int(chart_values(names.PLATFORM)["prometheus"]["port"])


def canary_values() -> dict:
    """The canary analysis block of the platform values (plan, checks, local timing)."""
    return dict(chart_values(names.PLATFORM)["canary"])


def alertmanager_port() -> int:
    return int(chart_values(names.PLATFORM)["alertmanager"]["port"])


def retrain_values() -> dict:
    """Webhook port and path, and the cool-down between two alert-started trainings."""
    return dict(chart_values(names.PLATFORM)["retrain"])


def retrain_cooldown() -> str:
    return str(retrain_values()["cooldown"])
