"""Where the local platform keeps everything, and the lock that serialises changes.

One state directory (default .state/local in the repository, or $GG_STATE_DIR):

    platform.json       settings chosen at the first `up` (ports, MLflow backend, artifact store)
    deployments.json    per environment: what is served now (tag, port, process) and the deploy history
    secrets.json        generated Postgres / S3 credentials (mode 0600)
    lock                fcntl lock held by every command that changes the platform
    registry/<tag>/     immutable bundles staging-1.0.N, canary-1.0.N, production-1.0.N
    supervisor/         supervisord's config, socket and program definitions
    traefik/            Traefik's static config and the dynamic routes file it watches
    mlflow/ postgres/ s3/   the registry's stores
    logs/               every process's output
    data/ runs/         synthetic dataset and training outputs

Files are replaced atomically (write a temp file, fsync, rename), so a crash
never leaves half a JSON file behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.errors import GourmetGramError
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.paths import REPO_ROOT

STATE_ENV = "GG_STATE_DIR"
DEFAULT_STATE_DIR = REPO_ROOT / ".state" / "local"
# Traefik's API/dashboard port: a local-only mechanic, not part of the Helm values.
DEFAULT_TRAEFIK_API_PORT = 8089
BACKENDS = ("sqlite", "postgres")
ARTIFACT_STORES = ("local", "s3")


class PlatformError(GourmetGramError):
    """A user-facing error of the local platform (printed without a traceback)."""


class LockBusy(PlatformError):
    pass


def state_dir(path: str | Path | None = None) -> Path:
    """The platform's state directory: explicit path, else $GG_STATE_DIR, else .state/local."""
    chosen = path or os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR
    return Path(chosen).expanduser().resolve()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except ValueError as exc:
        raise PlatformError(f"{path} is not valid JSON ({exc}); fix or remove it") from None


@dataclass
class Ports:
    """Loopback ports of the platform's entries. Defaults come from the Helm values.

    `environments` maps each of names.ENVIRONMENTS to its entry port, so a new environment
    needs no field here. platform.json keeps one flat object, as before this mapping
    ({"staging": 8082, "canary": 8081, "production": 8080, "gateway": 80, ...}): state dirs
    written earlier read unchanged (from_dict / named)."""

    environments: dict[str, int]
    gateway: int
    mlflow: int
    traefik_api: int
    # 0 = not chosen yet: configure() picks a free one (state dirs made before Prometheus came).
    prometheus: int = 0
    # Alertmanager and the retraining webhook (gourmetgram/local/alerting.py); 0 = as prometheus.
    alertmanager: int = 0
    retrain_hook: int = 0

    @classmethod
    def defaults(cls, offset: int = 0) -> Ports:
        return cls(
            environments={env: values.env_port(env) + offset for env in names.ENVIRONMENTS},
            gateway=values.gateway_port() + offset,
            mlflow=values.mlflow_port() + offset,
            traefik_api=DEFAULT_TRAEFIK_API_PORT + offset,
            prometheus=values.prometheus_port() + offset,
            alertmanager=values.alertmanager_port() + offset,
            retrain_hook=int(values.retrain_values()["webhookPort"]) + offset,
        )

    @classmethod
    def pick(cls, port: Callable[[], int]) -> Ports:
        """Every port from port(), one call each (tests and benchmarks pass a free-port finder)."""
        return cls(
            environments={env: port() for env in names.ENVIRONMENTS},
            gateway=port(),
            mlflow=port(),
            traefik_api=port(),
            prometheus=port(),
            alertmanager=port(),
            retrain_hook=port(),
        )

    def env(self, env: str) -> int:
        return int(self.environments[names.check_env(env)])

    def named(self) -> dict[str, int]:
        """Every port by its name: the environments', then the platform's (platform.json's flat form)."""
        others = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "environments"}
        return {**self.environments, **others}

    @classmethod
    def from_dict(cls, raw: dict) -> Ports:
        raw = dict(raw)
        missing = [env for env in names.ENVIRONMENTS if env not in raw]
        if missing:
            raise PlatformError(
                f"the saved ports {raw} have none for {', '.join(missing)}: this state dir predates that "
                "environment; pick another state dir (GG_STATE_DIR) or remove this one"
            )
        environments = {env: int(raw.pop(env)) for env in names.ENVIRONMENTS}
        return cls(environments=environments, **raw)

    def check(self) -> None:
        used = list(self.named().values())
        if len(set(used)) != len(used):
            raise PlatformError(f"ports must differ: {self.named()}")
        for name, port in self.named().items():
            if not 1 <= int(port) <= 65535:
                raise PlatformError(f"port {name}={port} is out of range")


@dataclass
class Settings:
    host: str
    ports: Ports
    backend: str = "sqlite"
    artifacts: str = "local"
    postgres_port: int = 0
    s3_port: int = 0

    def as_dict(self) -> dict:
        """The settings as platform.json holds them (ports flat, see Ports)."""
        return {**asdict(self), "ports": self.ports.named()}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, raw: dict) -> Settings:
        raw = dict(raw)
        raw["ports"] = Ports.from_dict(raw["ports"])
        return cls(**raw)


@dataclass
class Current:
    """What an environment serves now."""

    version: int
    tag: str
    port: int
    program: str
    pid: int = 0
    at: str = ""


@dataclass
class Deployments:
    current: dict[str, Current] = field(default_factory=dict)
    history: dict[str, list[Deployment]] = field(default_factory=dict)

    def record(self, env: str, cur: Current) -> None:
        self.current[env] = cur
        self.history.setdefault(env, []).append(Deployment(cur.version, cur.tag, cur.at))

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "current": {e: asdict(c) for e, c in self.current.items()},
                    "history": {e: [asdict(d) for d in h] for e, h in self.history.items()},
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_dict(cls, raw: dict) -> Deployments:
        return cls(
            current={e: Current(**c) for e, c in raw.get("current", {}).items()},
            history={e: [Deployment(**d) for d in h] for e, h in raw.get("history", {}).items()},
        )


class State:
    """Paths and JSON files of one state directory."""

    def __init__(self, root: str | Path | None = None):
        self.root = state_dir(root)

    # paths
    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # settings
    def settings(self) -> Settings | None:
        raw = _read_json(self.path("platform.json"), None)
        return Settings.from_dict(raw) if raw else None

    def save_settings(self, settings: Settings) -> None:
        write_atomic(self.path("platform.json"), settings.to_json())

    # deployments
    def deployments(self) -> Deployments:
        return Deployments.from_dict(_read_json(self.path("deployments.json"), {}))

    def save_deployments(self, deployments: Deployments) -> None:
        write_atomic(self.path("deployments.json"), deployments.to_json())

    # secrets
    def secret(self, key: str) -> str:
        """A generated credential (20 letters/digits, as the lab's), created on first use."""
        path = self.path("secrets.json")
        data = _read_json(path, {})
        if key not in data:
            alphabet = string.ascii_letters + string.digits
            data[key] = "".join(secrets.choice(alphabet) for _ in range(20))
            write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o600)
        return data[key]


class PlatformLock:
    """An exclusive fcntl lock on <state>/lock; a second holder gets LockBusy naming the first."""

    def __init__(self, state: State, what: str):
        self.path = state.path("lock")
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> PlatformLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "another command"
            os.close(fd)
            raise LockBusy(
                f"the local platform is busy: {holder} holds {self.path}. "
                f"Wait for it to finish, then run '{self.what}' again."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"'{self.what}' (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
