"""The lifecycle Target on this machine: bundle directories, gunicorn processes, a gateway route swap.

The local twin of gourmetgram/cluster/target.py; LocalPlatform (platform.py) starts the
processes and hands its parts to this class as `platform.target`.

    build           bundle staging-1.0.N from the registered model (bundles.py)
    copy_tag        bundle <src>-1.0.N -> <dst>-1.0.N
    deploy          zero-downtime: gunicorn from the bundle on a fresh loopback port, wait for
                    /readyz and /version, switch the gateway's route for the environment (and so
                    the split), then stop the old process. A version that never gets ready is
                    removed again and never switched in.
    url             http://<host>:<env port>
    deployed_version, history   <state>/deployments.json
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from gourmetgram import names
from gourmetgram.feedback import local_capture_dir
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.lifecycle.target import DeployError
from gourmetgram.local.bundles import BundleError, BundleRegistry, verify
from gourmetgram.local.gateway import Gateway
from gourmetgram.local.state import Current, PlatformError, Settings, State
from gourmetgram.local.supervisor import FAILED_STATES, Program, Supervisor
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV, free_port

APP_PREFIX = "app-"
READY_TIMEOUT = 120.0
# A process that answers /readyz with 503 this long has failed to load its model
# (the app loads it at start-up and keeps answering 503 with the reason).
NOT_READY_GRACE = 15.0
# After the gateway switched, give in-flight requests to the old process a moment.
DRAIN_SECONDS = 1.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalTarget:
    """Target over the local platform's parts; settings, gateway and say are read when used
    (the settings exist only once the platform is configured)."""

    name = "local"

    def __init__(
        self,
        state: State,
        supervisor: Supervisor,
        bundles: BundleRegistry,
        settings: Callable[[], Settings],
        gateway: Callable[[], Gateway],
        say: Callable[[str], None],
    ):
        self.state = state
        self.supervisor = supervisor
        self.bundles = bundles
        self._settings = settings
        self._gateway = gateway
        self.say = say
        # Tests only: extra environment for the app process of one model version
        # ({N: {"GG_TEST_FAULT": ...}}) to plant a bad candidate; no task or file sets it.
        self.app_env_overrides: dict[int, dict[str, str]] = {}

    # -- Target -------------------------------------------------------------------------------
    def build(self, model_version: int, registry: Registry) -> str:
        return self.bundles.build(model_version, registry)

    def copy_tag(self, source_env: str, target_env: str, model_version: int) -> str:
        return self.bundles.copy_tag(source_env, target_env, model_version)

    def url(self, env: str) -> str:
        s = self._settings()
        return f"http://{s.host}:{s.ports.env(env)}"

    def deployed_version(self, env: str) -> int | None:
        cur = self.state.deployments().current.get(env)
        return cur.version if cur else None

    def history(self, env: str) -> list[Deployment]:
        return list(self.state.deployments().history.get(env, []))

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
        host = self._settings().host
        port = free_port(host)
        program = self.app_program(env, n, port, bundle)
        self.say(f"    starting {program.name} (gunicorn on {host}:{port})")
        self.supervisor.add(program)
        try:
            self.wait_ready(program.name, port, n)
        except DeployError:
            self.supervisor.remove(program.name)
            raise
        deployments = self.state.deployments()
        old = deployments.current.get(env)
        backends = {e: c.port for e, c in deployments.current.items()}
        backends[env] = port
        gateway = self._gateway()
        try:
            gateway.switch(backends)
        except PlatformError as exc:
            if old:
                backends[env] = old.port
            else:
                backends.pop(env)
            gateway.write_routes(backends)
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

    # -- the app process ------------------------------------------------------------------------
    def app_program(self, env: str, model_version: int, port: int, bundle: Path) -> Program:
        env_vars = dict(NO_TELEMETRY_ENV)
        env_vars.update(
            {
                "PYTHONPATH": str(bundle),
                "GG_MODEL_DIR": str(bundle / "model"),
                "GG_VERSION_FILE": str(bundle / "versions.txt"),
                "GG_ENVIRONMENT": env,
                # One capture store for all environments: feedback may reach another one via the gateway.
                "GG_CAPTURE_DIR": str(local_capture_dir(self.state)),
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
                f"{self._settings().host}:{port}",
                "app.app:create_app()",
            ],
            directory=bundle,
            environment=env_vars,
            startsecs=1,
            startretries=3,
            stopwaitsecs=30,
        )

    def wait_ready(self, program: str, port: int, model_version: int, timeout: float = READY_TIMEOUT) -> None:
        """Until the app answers /readyz 200 and /version with this version; DeployError otherwise."""
        url = f"http://{self._settings().host}:{port}"
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
