"""The local platform: MLflow, the gateway (Traefik) and three app environments on one machine.

LocalPlatform configures, starts and stops the processes (through supervisord) and reports
their status. Its `target` (target.py) is the local implementation of
gourmetgram.lifecycle.target.Target (build, copy_tag, deploy, ...); its `gateway` is the
local Gateway interface (gateway.py), whatever implements it.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, replace
from pathlib import Path

import requests

from gourmetgram import names
from gourmetgram.feedback import local_capture_dir, online_accuracy
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.local import alerting, gateway, prometheus, services
from gourmetgram.local.bundles import BundleRegistry
from gourmetgram.local.state import ARTIFACT_STORES, BACKENDS, PlatformError, Ports, Settings, State
from gourmetgram.local.supervisor import Program, Supervisor
from gourmetgram.local.target import LocalTarget
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV, free_port

# Ports added after the first platforms: a state dir without them gets a free one, once.
LATE_PORTS = ("prometheus", "alertmanager", "retrain_hook")


class LocalPlatform:
    name = "local"

    def __init__(self, root: str | Path | None = None, say=print):
        self.state = State(root)
        self.supervisor = Supervisor(self.state)
        self.bundles = BundleRegistry(self.state.registry)
        self.say = say
        # The lifecycle's Target here; reads the settings and the gateway when it uses them.
        self.target = LocalTarget(
            self.state,
            self.supervisor,
            self.bundles,
            settings=lambda: self.settings,
            gateway=lambda: self.gateway,
            say=lambda line: self.say(line),
        )

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
            for late in LATE_PORTS:
                if not getattr(ports, late):
                    setattr(ports, late, free_port(host))
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
        late = [name for name in LATE_PORTS if not getattr(saved.ports, name)]
        for name in late:
            # A state dir from before Prometheus (or Alertmanager) was part of the platform: a port, once.
            setattr(saved.ports, name, free_port(saved.host))
        if late:
            self.state.save_settings(saved)
        if ports is not None:
            ports = replace(ports, **{n: getattr(saved.ports, n) for n in LATE_PORTS if not getattr(ports, n)})
        asked = {"ports": ports, "host": host, "backend": backend, "artifacts": artifacts}
        for key, value in asked.items():
            if value is not None and key != "host" and value != getattr(saved, key):
                raise PlatformError(
                    f"{self.state.root} was set up with {key}={_show(getattr(saved, key))}; "
                    f"to use {key}={_show(value)}, pick another state dir (GG_STATE_DIR) or remove this one"
                )
        return saved

    @property
    def gateway(self) -> gateway.Gateway:
        return gateway.for_settings(self.state, self.settings)

    @property
    def mlflow_url(self) -> str:
        return services.mlflow_url(self.settings)

    def registry(self) -> Registry:
        return Registry(self.mlflow_url)

    def url(self, env: str) -> str:
        return self.target.url(env)

    @property
    def gateway_url(self) -> str:
        s = self.settings
        return f"http://{s.host}:{s.ports.gateway}"

    @property
    def prometheus_url(self) -> str:
        return prometheus.url(self.settings)

    def gateway_weights(self) -> dict[str, int]:
        return self.gateway.weights()

    def set_gateway_weights(self, weights: dict[str, int]) -> None:
        """Move the gateway split (canary analysis steps); returns once the gateway serves it."""
        backends = {env: cur.port for env, cur in self.state.deployments().current.items()}
        self.gateway.set_weights(weights, backends)

    @property
    def traefik_url(self) -> str:
        return self.gateway.dashboard_url

    # -- up / down ----------------------------------------------------------------------------
    def up(self) -> None:
        """Start everything; deployed environments come back with the bundles they had."""
        s = self.settings
        if self.supervisor.running():
            self.say(f"platform already up (state: {self.state.root})")
            if self.supervisor.info(prometheus.PROGRAM) is None:  # platform started before Prometheus came
                self.supervisor.add(prometheus.program(self.state, s))
                prometheus.wait_ready(self.state, s)
            if self.supervisor.info(alerting.ALERTMANAGER) is None:  # started before Alertmanager came
                self._start_alerting(s)
            self.gateway.wait_ready()
            services.wait_mlflow(self.state, s)
            return
        self._check_ports_free(s)
        base_env = dict(NO_TELEMETRY_ENV)
        # MLflow is added after its stores are ready (Postgres needs its database first).
        (self.supervisor.programs_dir / f"{services.MLFLOW}.conf").unlink(missing_ok=True)
        gate = self.gateway
        programs: list[Program] = [gate.program(base_env)]
        if s.backend == "postgres":
            programs.append(services.postgres_program(self.state, s))
        if s.artifacts == "s3":
            programs.append(services.s3_program(self.state, s))
        gate.write_routes({env: cur.port for env, cur in self.state.deployments().current.items()})
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
        gate.wait_ready()
        prometheus.wait_ready(self.state, s)
        self.say(f"  prometheus ready at {self.prometheus_url}")
        self._start_alerting(s)
        services.wait_mlflow(self.state, s)
        self.say(f"  mlflow ready at {self.mlflow_url}")
        deployments = self.state.deployments()
        for env, cur in deployments.current.items():
            self.target.wait_ready(cur.program, cur.port, cur.version)
            # The pid at this start: status reports a later change as a restart.
            cur.pid = int((self.supervisor.info(cur.program) or {}).get("pid", 0))
            self.say(f"  {env} serves {names.version_string(cur.version)} at {self.url(env)}")
        self.state.save_deployments(deployments)

    def _start_alerting(self, s: Settings) -> None:
        for program in alerting.programs(self.state, s):
            self.supervisor.add(program)
        alerting.wait_ready(self.state, s)
        self.say(f"  alertmanager ready at {alerting.url(s)} -> retraining webhook {alerting.hook_url(s)}")

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
            "traefik": procs.get(self.gateway.program_name, {}).get("statename", "STOPPED"),
            "traefik_url": self.traefik_url,
            "prometheus": procs.get(prometheus.PROGRAM, {}).get("statename", "STOPPED"),
            "prometheus_url": self.prometheus_url,
            "alertmanager": procs.get(alerting.ALERTMANAGER, {}).get("statename", "STOPPED"),
            "retrain_hook": procs.get(alerting.HOOK, {}).get("statename", "STOPPED"),
            "alertmanager_url": alerting.url(s),
            "retrain_hook_url": alerting.hook_url(s),
            "bundles": self.bundles.tags(),
            "feedback": _feedback(self.state),
            "processes": {n: f"{p['statename']} pid {p['pid']}" for n, p in procs.items()},
        }


def _feedback(state: State) -> dict:
    """Online accuracy per environment and version from the users' labels (app/feedback.py)."""
    try:
        return {"rows": online_accuracy(local_capture_dir(state)), "error": ""}
    except Exception as exc:  # status must print whatever it can
        return {"rows": [], "error": str(exc)[:300]}


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
