"""How a canary step moves the gateway weights.

Local: Traefik's file provider (gourmetgram/local/traefik.py), confirmed through its API.
Cluster: the HTTPRoute's weights are the platform chart's values route.backends[i].weight;
they change as Helm parameters of the Argo CD application gourmetgram-platform (set, then
sync and wait), through Argo CD's HTTP API, the same thing `argocd app set --helm-set` does.
"""

from __future__ import annotations

import copy
import time
from typing import Protocol

import requests

from gourmetgram import names, values


class Gateway(Protocol):
    def weights(self) -> dict[str, int]: ...

    def set_weights(self, weights: dict[str, int]) -> None: ...


def step_weights(canary_weight: int) -> dict[str, int]:
    """The gateway split at a canary step: the canary gets its weight, production the rest."""
    return {names.PRODUCTION: 100 - int(canary_weight), names.CANARY: int(canary_weight)}


class LocalGateway:
    def __init__(self, platform):
        self.platform = platform

    def weights(self) -> dict[str, int]:
        return self.platform.gateway_weights()

    def set_weights(self, weights: dict[str, int]) -> None:
        self.platform.set_gateway_weights(weights)


def weight_parameters(weights: dict[str, int]) -> dict[str, str]:
    """Helm parameters that give the HTTPRoute these weights (indexes of route.backends)."""
    out = {}
    for i, backend in enumerate(values.route_backends()):
        out[f"route.backends[{i}].weight"] = str(int(weights[backend.environment]))
    return out


def with_weights(spec: dict, weights: dict[str, int]) -> dict:
    """The Argo CD application spec with its Helm weight parameters replaced (others kept)."""
    spec = copy.deepcopy(spec)
    helm = spec.setdefault("source", {}).setdefault("helm", {})
    wanted = weight_parameters(weights)
    params = [p for p in helm.get("parameters") or [] if p.get("name") not in wanted]
    params += [{"name": k, "value": v} for k, v in wanted.items()]
    helm["parameters"] = params
    return spec


class ArgoCDGateway:
    """The platform application's route weights through Argo CD's API (in-cluster server).

    Authenticates with a bearer token: the workflows' deployer account's API token (the cluster's
    convention, never the admin password). `login` gets a session token from a username and
    password instead, for a person at a port-forward.
    """

    def __init__(self, server: str, token: str, timeout: float = 300.0):
        if not token or not token.strip():
            raise ValueError("the Argo CD API token is empty (Secret argocd-deployer-token, key token)")
        self.server = server.rstrip("/")
        self.app = names.app_name(names.PLATFORM)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = False  # the in-cluster server's self-signed certificate, as `argocd --insecure`
        self.session.headers["Authorization"] = f"Bearer {token.strip()}"

    @classmethod
    def login(cls, server: str, password: str, username: str = "admin", timeout: float = 300.0) -> ArgoCDGateway:
        """A gateway with a session token from Argo CD's /api/v1/session (username and password)."""
        session = requests.Session()
        session.verify = False
        url = f"{server.rstrip('/')}/api/v1/session"
        resp = session.post(url, json={"username": username, "password": password}, timeout=30)
        if resp.status_code >= 400:
            raise RuntimeError(f"Argo CD POST /api/v1/session: HTTP {resp.status_code} {resp.text[:300]}")
        return cls(server, resp.json()["token"], timeout=timeout)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        resp = getattr(self.session, method)(f"{self.server}{path}", timeout=30, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"Argo CD {method.upper()} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else {}

    def weights(self) -> dict[str, int]:
        spec = self._call("get", f"/api/v1/applications/{self.app}")["spec"]
        params = {p["name"]: p["value"] for p in (spec.get("source", {}).get("helm", {}).get("parameters") or [])}
        out = values.route_weights()
        for i, backend in enumerate(values.route_backends()):
            key = f"route.backends[{i}].weight"
            if key in params:
                out[backend.environment] = int(params[key])
        return out

    def set_weights(self, weights: dict[str, int]) -> None:
        app = self._call("get", f"/api/v1/applications/{self.app}")
        self._call("put", f"/api/v1/applications/{self.app}/spec", json=with_weights(app["spec"], weights))
        self._call("post", f"/api/v1/applications/{self.app}/sync", json={"prune": False})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            status = self._call("get", f"/api/v1/applications/{self.app}").get("status", {})
            phase = (status.get("operationState") or {}).get("phase")
            if status.get("sync", {}).get("status") == "Synced" and phase == "Succeeded":
                return
            if phase in ("Failed", "Error"):
                raise RuntimeError(f"Argo CD sync of {self.app} {phase}: {status['operationState'].get('message')}")
            time.sleep(2)
        raise RuntimeError(f"Argo CD did not sync {self.app} to weights {weights} within {self.timeout:.0f}s")
