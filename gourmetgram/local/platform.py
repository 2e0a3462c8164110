"""The local platform: MLflow, Traefik and three app environments on one machine.

LocalPlatform starts and stops the processes (through supervisord) and is the
local implementation of gourmetgram.lifecycle.target.Target:
- build: a bundle staging-1.0.N from the registered model (bundles.py)
- copy_tag: <src>-1.0.N -> <dst>-1.0.N
- deploy: zero-downtime: start gunicorn from the bundle on a fresh loopback
  port, wait for /readyz and /version, switch Traefik's route for the
  environment (and so the gateway split), then stop the old process. A version
  that never gets ready is removed again and never switched in.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import requests

from gourmetgram import names
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.lifecycle.target import DeployError
from gourmetgram.local import prometheus, services
from gourmetgram.local.bundles import BundleError, BundleRegistry, verify
from gourmetgram.local.state import (
    ARTIFACT_STORES,
    BACKENDS,
    Current,
    PlatformError,
    Ports,
    Settings,
    State,
)
from gourmetgram.local.supervisor import FAILED_STATES, Program, Supervisor
from gourmetgram.local.traefik import PROGRAM as TRAEFIK
from gourmetgram.local.traefik import Traefik
from gourmetgram.mlflow_server import NO_TELEMETRY_ENV, free_port

APP_PREFIX = "app-"
READY_TIMEOUT = 120.0
# A process that answers /readyz with 503 this long has failed to load its model
# (the app loads it at start-up and keeps answering 503 with the reason).
NOT_READY_GRACE = 15.0
# After Traefik switched, give in-flight requests to the old process a moment.
DRAIN_SECONDS = 1.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalPlatform:
    name = "local"

    def __init__(self, root: str | Path | None = None, say=print):
        self.state = State(root)
        self.supervisor = Supervisor(self.state)
        self.bundles = BundleRegistry(self.state.registry)
        self.say = say
        # Tests only: extra environment for the app process of one model version
        # ({N: {"GG_TEST_FAULT": ...}}) to plant a bad candidate; no task or file sets it.
        self.app_env_overrides: dict[int, dict[str, str]] = {}

    # -- settings -----------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        settings = self.state.settings()
        if settings is None:
            raise PlatformError(f"the local platform is not set up in {self.state.root}: run 'invoke local.up'")
        return settings

    def configure(
        self,
        ports: Ports | None = None,
        host: str = "127.0.0.1",
        backend: str | None = None,
        artifacts: str | None = None,
    ) -> Settings:
        """Settings are chosen once per state dir; later calls must agree with them."""
        saved = self.state.settings()
        if saved is None:
            backend = backend or "sqlite"
            artifacts = artifacts or "local"
            if backend not in BACKENDS:
                raise PlatformError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
            if artifacts not in ARTIFACT_STORES:
                raise PlatformError(f"artifacts must be one of {', '.join(ARTIFACT_STORES)}, got {artifacts!r}")
            ports = ports or Ports.defaults()
            if not ports.prometheus:
                ports.prometheus = free_port(host)
            ports.check()
            saved = Settings(
                host=host,
                ports=ports,
                backend=backend,
                artifacts=artifacts,
                postgres_port=free_port() if backend == "postgres" else 0,
                s3_port=free_port() if artifacts == "s3" else 0,
            )
            self.state.root.mkdir(parents=True, exist_ok=True)
            self.state.save_settings(saved)
            return saved
        if not saved.ports.prometheus:
            # A state dir from before Prometheus was part of the platform: give it a port once.
            saved.ports.prometheus = free_port(saved.host)
            self.state.save_settings(saved)
        if ports is not None and not ports.prometheus:
            ports = replace(ports, prometheus=saved.ports.prometheus)
        asked = {"ports": ports, "host": host, "backend": backend, "artifacts": artifacts}
        for key, value in asked.items():
            if value is not None and key != "host" and value != getattr(saved, key):
                raise PlatformError(
                    f"{self.state.root} was set up with {key}={_show(getattr(saved, key))}; "
                    f"to use {key}={_show(value)}, pick another state dir (GG_STATE_DIR) or remove this one"
                )
        return saved

    @property
    def traefik(self) -> Traefik:
        s = self.settings
        return Traefik(self.state.path("traefik"), s.host, s.ports)

    @property
    def mlflow_url(self) -> str:
        return services.mlflow_url(self.settings)

    def registry(self) -> Registry:
        return Registry(self.mlflow_url)

    def url(self, env: str) -> str:
        s = self.settings
        return f"http://{s.host}:{s.ports.env(env)}"

    @property
    def gateway_url(self) -> str:
        s = self.settings
        return f"http://{s.host}:{s.ports.gateway}"

    @property
    def prometheus_url(self) -> str:
        return prometheus.url(self.settings)

    def gateway_weights(self) -> dict[str, int]:
        return self.traefik.weights()

    def set_gateway_weights(self, weights: dict[str, int]) -> None:
        """Move the gateway split (canary analysis steps); returns once Traefik serves it."""
        backends = {env: cur.port for env, cur in self.state.deployments().current.items()}
        self.traefik.set_weights(weights, backends)

    @property
    def traefik_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.ports.traefik_api}/dashboard/"

    # -- up / down ----------------------------------------------------------------------------
    def up(self) -> None:
        """Start everything; deployed environments come back with the bundles they had."""
        s = self.settings
        if self.supervisor.running():
            self.say(f"platform already up (state: {self.state.root})")
            if self.supervisor.info(prometheus.PROGRAM) is None:  # platform started before Prometheus came
                self.supervisor.add(prometheus.program(self.state, s))
                prometheus.wait_ready(self.state, s)
            self.traefik.wait_ready()
            services.wait_mlflow(self.state, s)
            return
        self._check_ports_free(s)
        base_env = dict(NO_TELEMETRY_ENV)
        # MLflow is added after its stores are ready (Postgres needs its database first).
        (self.supervisor.programs_dir / f"{services.MLFLOW}.conf").unlink(missing_ok=True)
        programs: list[Program] = [self.traefik.program(base_env)]
        if s.backend == "postgres":
            programs.append(services.postgres_program(self.state, s))
        if s.artifacts == "s3":
            programs.append(services.s3_program(self.state, s))
        self.traefik.write_routes({env: cur.port for env, cur in self.state.deployments().current.items()})
        self.supervisor.start()
        for program in programs:
            self.say(f"  starting {program.name}")
            self.supervisor.add(program)
        if s.backend == "postgres":
            services.ensure_postgres_database(self.state, s)
            self.say(f"  postgres ready on {s.host}:{s.postgres_port}")
        if s.artifacts == "s3":
            services.wait_s3(self.state, s)
            self.say(f"  s3 (rclone) ready on {s.host}:{s.s3_port}, bucket {services.values.artifact_bucket()}")
        self.say(f"  starting mlflow ({s.backend} backend, {s.artifacts} artifacts)")
        self.supervisor.add(services.mlflow_program(self.state, s))
        self.say(f"  starting prometheus (scrapes every {prometheus.scrape_interval()})")
        self.supervisor.add(prometheus.program(self.state, s))
        self.traefik.wait_ready()
        prometheus.wait_ready(self.state, s)
        self.say(f"  prometheus ready at {self.prometheus_url}")
        services.wait_mlflow(self.state, s)
        self.say(f"  mlflow ready at {self.mlflow_url}")
        deployments = self.state.deployments()
        for env, cur in deployments.current.items():
            self._wait_ready(cur.program, cur.port, cur.version)
            # The pid at this start: status reports a later change as a restart.
            cur.pid = int((self.supervisor.info(cur.program) or {}).get("pid", 0))
            self.say(f"  {env} serves {names.version_string(cur.version)} at {self.url(env)}")
        self.state.save_deployments(deployments)

    def _check_ports_free(self, s: Settings) -> None:
        """Fail before starting anything if an entry's port is taken (Traefik would just exit)."""
        wanted = s.ports.named()
        if s.postgres_port:
            wanted["postgres"] = s.postgres_port
        if s.s3_port:
            wanted["s3"] = s.s3_port
        busy = []
        for name, port in wanted.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((s.host, int(port)))
                except PermissionError:
                    busy.append(f"{name} {port} (below 1024: needs root)")
                except OSError:
                    busy.append(f"{name} {port}")
        if busy:
            raise PlatformError(
                f"cannot listen on {s.host}: {', '.join(busy)}. Stop what uses them, or set the platform up "
                "in another state dir with other ports (GG_STATE_DIR=... invoke local.up --port-offset N)"
            )

    def down(self) -> None:
        """Stop every process; state (bundles, deployments, registry) stays for the next up."""
        self.supervisor.shutdown()

    # -- Target: build / copy / deploy --------------------------------------------------------
    def build(self, model_version: int, registry: Registry) -> str:
        return self.bundles.build(model_version, registry)

    def copy_tag(self, source_env: str, target_env: str, model_version: int) -> str:
        return self.bundles.copy_tag(source_env, target_env, model_version)

    def deployed_version(self, env: str) -> int | None:
        cur = self.state.deployments().current.get(env)
        return cur.version if cur else None

    def history(self, env: str) -> list[Deployment]:
        return list(self.state.deployments().history.get(env, []))

    def app_program(self, env: str, model_version: int, port: int, bundle: Path) -> Program:
        env_vars = dict(NO_TELEMETRY_ENV)
        env_vars.update(
            {
                "PYTHONPATH": str(bundle),
                "GG_MODEL_DIR": str(bundle / "model"),
                "GG_VERSION_FILE": str(bundle / "versions.txt"),
                "GG_ENVIRONMENT": env,
                "PYTHONDONTWRITEBYTECODE": "1",  # the bundle is read-only
            }
        )
        env_vars.update(self.app_env_overrides.get(int(model_version), {}))
        return Program(
            name=f"{APP_PREFIX}{env}-{model_version}-{port}",
            command=[
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(bundle / "app" / "gunicorn.conf.py"),
                "--bind",
                f"{self.settings.host}:{port}",
                "app.app:create_app()",
            ],
            directory=bundle,
            environment=env_vars,
            startsecs=1,
            startretries=3,
            stopwaitsecs=30,
        )

    def deploy(self, env: str, model_version: int) -> None:
        n = int(model_version)
        tag = names.image_tag(env, n)
        bundle = self.bundles.path(env, n)
        if not bundle.is_dir():
            raise DeployError(f"no bundle {tag} in {self.bundles.root}")
        try:
            verify(bundle)
        except BundleError as exc:
            raise DeployError(f"refused to deploy {tag}: {exc}") from None
        port = free_port(self.settings.host)
        program = self.app_program(env, n, port, bundle)
        self.say(f"    starting {program.name} (gunicorn on {self.settings.host}:{port})")
        self.supervisor.add(program)
        try:
            self._wait_ready(program.name, port, n)
        except DeployError:
            self.supervisor.remove(program.name)
            raise
        deployments = self.state.deployments()
        old = deployments.current.get(env)
        backends = {e: c.port for e, c in deployments.current.items()}
        backends[env] = port
        try:
            self.traefik.switch(backends)
        except PlatformError as exc:
            if old:
                backends[env] = old.port
            else:
                backends.pop(env)
            self.traefik.write_routes(backends)
            self.supervisor.remove(program.name)
            raise DeployError(f"{tag} not switched in: {exc}") from None
        info = self.supervisor.info(program.name) or {}
        deployments.record(env, Current(n, tag, port, program.name, int(info.get("pid", 0)), _now()))
        self.state.save_deployments(deployments)
        self.say(f"    switched {env} ({self.url(env)}) to {tag}")
        if old and old.program != program.name:
            time.sleep(DRAIN_SECONDS)
            self.supervisor.remove(old.program)
            self.say(f"    stopped {old.program}")

    def _wait_ready(self, program: str, port: int, model_version: int, timeout: float = READY_TIMEOUT) -> None:
        url = f"http://{self.settings.host}:{port}"
        expected = names.version_string(model_version)
        deadline = time.monotonic() + timeout
        first_503: float | None = None
        last = "no answer yet"
        while time.monotonic() < deadline:
            info = self.supervisor.info(program) or {}
            if info.get("statename") in FAILED_STATES - {"BACKOFF"}:
                raise DeployError(
                    f"{program} {info.get('statename')} ({info.get('description', '')}); its log ends with:\n"
                    + self.supervisor.tail(program, 15)
                )
            try:
                resp = requests.get(f"{url}/readyz", timeout=5)
                if resp.status_code == 200:
                    got = requests.get(f"{url}/version", timeout=5).json().get("model_version")
                    if got == expected:
                        return
                    raise DeployError(f"{program} reports version {got}, expected {expected}")
                last = f"/readyz answered {resp.status_code}: {resp.text.strip()[:300]}"
                first_503 = first_503 or time.monotonic()
                if time.monotonic() - first_503 > NOT_READY_GRACE:
                    raise DeployError(f"{program} never got ready: {last}")
            except requests.RequestException:
                last = "not answering yet"
            time.sleep(0.3)
        raise DeployError(f"{program} not ready within {timeout:.0f}s: {last}")

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict:
        """Everything `local.status` shows, as data (the task formats it)."""
        s = self.settings
        up = self.supervisor.running()
        procs = self.supervisor.all_info() if up else {}
        deployments = self.state.deployments()
        envs = {}
        for env in names.ENVIRONMENTS:
            cur = deployments.current.get(env)
            row = {"url": self.url(env), "tag": cur.tag if cur else "", "version": "", "health": "down"}
            if cur:
                info = procs.get(cur.program, {})
                pid = info.get("pid", 0)
                row["process"] = info.get("statename", "STOPPED") + (f" pid {pid}" if pid else "")
                if cur.pid and info.get("pid") and info["pid"] != cur.pid:
                    row["process"] += f" (restarted; was pid {cur.pid})"
                row["deployed_at"] = cur.at
            if up:
                row.update(_probe(self.url(env)))
            envs[env] = row
        gateway = {"url": self.gateway_url, **(_probe(self.gateway_url) if up else {"health": "down"})}
        gateway["weights"] = self.gateway_weights()
        registry: dict = {"url": self.mlflow_url, "versions": {}, "aliases": {}, "error": ""}
        if up and procs.get(services.MLFLOW, {}).get("statename") == "RUNNING":
            try:
                reg = self.registry()
                registry["aliases"] = reg.aliases()
                for v in reg.versions():
                    registry["versions"][v] = reg.is_approved(v)
                    registry.setdefault("canary_verdicts", {})[v] = _canary_verdict(reg.tags(v))
            except Exception as exc:  # status must print whatever it can
                registry["error"] = str(exc)[:300]
        return {
            "state_dir": str(self.state.root),
            "up": up,
            "settings": s.as_dict(),
            "environments": envs,
            "gateway": gateway,
            "registry": registry,
            "mlflow": procs.get(services.MLFLOW, {}).get("statename", "STOPPED"),
            "traefik": procs.get(TRAEFIK, {}).get("statename", "STOPPED"),
            "traefik_url": self.traefik_url,
            "prometheus": procs.get(prometheus.PROGRAM, {}).get("statename", "STOPPED"),
            "prometheus_url": self.prometheus_url,
            "bundles": self.bundles.tags(),
            "processes": {n: f"{p['statename']} pid {p['pid']}" for n, p in procs.items()},
        }


def _canary_verdict(tags: dict[str, str]) -> str:
    """The canary analysis' last verdict on a version and why, from its registry tags."""
    from gourmetgram.canary import record

    return record.summary(tags)


def _probe(url: str) -> dict:
    try:
        ready = requests.get(f"{url}/readyz", timeout=3)
        version = requests.get(f"{url}/version", timeout=3)
        answer = version.json().get("model_version", "") if version.status_code == 200 else ""
        return {"health": "ready" if ready.status_code == 200 else f"HTTP {ready.status_code}", "version": answer}
    except (requests.RequestException, ValueError):
        return {"health": "down", "version": ""}


def _show(value) -> str:
    if isinstance(value, Ports):
        return str(value.named())
    return str(asdict(value)) if hasattr(value, "__dataclass_fields__") else str(value)
