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
from gourmetgram.errors import GourmetGramError, NotReady, UsageError


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
    """Helm parameters that give the HTTPRoute these weights: every field of every route.backends entry.

    Argo CD renders a chart with its parameters as `--set` flags, and Helm replaces a list
    from --set as a whole (it never merges list items with the chart's values.yaml): setting
    only route.backends[i].weight would leave entries without environment and port, which the
    chart's schema refuses. So each entry is written whole, from the chart's own values."""
    out = {}
    for i, backend in enumerate(values.route_backends()):
        out[f"route.backends[{i}].environment"] = backend.environment
        out[f"route.backends[{i}].port"] = str(backend.port)
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
            raise UsageError("the Argo CD API token is empty (Secret argocd-deployer-token, key token)")
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
        try:
            resp = session.post(url, json={"username": username, "password": password}, timeout=30)
        except requests.RequestException as exc:
            raise GourmetGramError(f"Argo CD POST /api/v1/session: {exc}") from None
        if resp.status_code >= 400:
            raise GourmetGramError(f"Argo CD POST /api/v1/session: HTTP {resp.status_code} {resp.text[:300]}")
        return cls(server, resp.json()["token"], timeout=timeout)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            resp = getattr(self.session, method)(f"{self.server}{path}", timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise GourmetGramError(f"Argo CD {method.upper()} {path}: {exc}") from None
        if resp.status_code >= 400:
            raise GourmetGramError(f"Argo CD {method.upper()} {path}: HTTP {resp.status_code} {resp.text[:300]}")
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
        try:
            # Only the HTTPRoute: a selective sync runs no hooks (the platform's PostSync bucket Job)
            # and touches nothing else, so a weight change (and an abort's weight 0) is quick.
            self._call("post", f"/api/v1/applications/{self.app}/sync", json=ROUTE_SYNC)
        except RuntimeError as exc:
            # Automated sync may have started on the changed spec first: that operation applies it.
            if "another operation is already in progress" not in str(exc):
                raise
        wanted = weight_parameters(weights)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            status = self._call("get", f"/api/v1/applications/{self.app}").get("status", {})
            operation = status.get("operationState") or {}
            phase = operation.get("phase")
            if phase in ("Failed", "Error"):
                raise GourmetGramError(f"Argo CD sync of {self.app} {phase}: {operation.get('message')}")
            if phase == "Succeeded" and _applied(operation, wanted):
                return
            time.sleep(2)
        raise NotReady(f"Argo CD did not sync {self.app} to weights {weights} within {self.timeout:.0f}s")


# The selective sync of the canary split (the platform chart's HTTPRoute, k8s/platform/templates/gateway.yaml).
ROUTE_SYNC = {
    "prune": False,
    "resources": [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "HTTPRoute",
            "name": "gourmetgram-route",
            "namespace": names.namespace(names.PLATFORM),
        }
    ],
}


def _applied(operation: dict, wanted: dict[str, str]) -> bool:
    """The finished operation synced a source with these Helm parameters (not an earlier sync's result)."""
    source = (operation.get("syncResult") or {}).get("source") or {}
    params = {p.get("name"): p.get("value") for p in (source.get("helm") or {}).get("parameters") or []}
    return all(params.get(k) == v for k, v in wanted.items())
