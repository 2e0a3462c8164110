"""`invoke preflight`: the cheap checks that save an hour-long step from a wrong setting.

Each check prints ONE line, `ok` or `FAILED` with what to do. The commands are
Steps (gourmetgram/cluster/runner.py) run through a Probe that captures their
output quietly (or, in --dry-run, only prints them), so tests feed the checks
recorded `openstack` / `ssh` outputs through a fake Probe, and the node checks
run for real against the podman lab nodes.

Stages: `cloud` (before `provision`: settings, clouds.yaml, key pair, ssh-agent,
lease, security groups) and `nodes` (after `provision`: SSH to node1 through
the floating IP and to node2/3 through it, each node's disk/memory/Python and
unprivileged user namespaces (rootless BuildKit), and
every pinned download reachable from node1 with its sha256).
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gourmetgram.cluster import cloud, ssh
from gourmetgram.cluster.inventory import DEFAULT_NODES, proxy_command
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings, SettingsError
from gourmetgram.errors import BadAnswer
from gourmetgram.paths import REPO_ROOT

CLOUD_NAME = "openstack"  # the cloud our openstack/terraform commands name (OS_CLOUD, the provider)
VERSIONS_FILE = REPO_ROOT / "ansible" / "vars" / "versions.yml"
TF_DATA_FILE = REPO_ROOT / cloud.TF_DIR / "data.tf"
# What the playbooks need on each node (m1.large: 4 vCPU, 8 GiB, 40 GB): Kubespray and the
# images of the platform need room; ansible-core 2.19 needs Python >= 3.8 on the nodes.
MIN_MEMORY_GIB = 7.0
MIN_DISK_FREE_GB = 20.0
MIN_NODE_PYTHON = (3, 8)
SSH_TIMEOUT = 15  # seconds to connect
DOWNLOAD_TIMEOUT = 120  # seconds per pinned download, on node1


# ---- results and the probe -----------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One check's verdict: ok True/False, or None when not evaluated (dry-run, skipped)."""

    name: str
    ok: bool | None
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        if self.ok is None:
            return f"  --      {self.name}: {self.detail}"
        if self.ok:
            return f"  ok      {self.name}" + (f": {self.detail}" if self.detail else "")
        return f"  FAILED  {self.name}: {self.detail}" + (f" -> {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        text = (self.stderr or self.stdout).strip().splitlines()
        return text[-1][:300] if text else f"exit code {self.returncode}"


class Probe:
    """Runs a check's commands with captured output; in dry-run prints them and returns None."""

    def __init__(self, dry_run: bool = False, echo: Callable[[str], None] = print, timeout: float = 180):
        self.dry_run = dry_run
        self.echo = echo
        self.timeout = timeout

    def run(self, step: Step) -> Outcome | None:
        if self.dry_run:
            self.echo("would run: " + step.render())
            return None
        try:
            proc = subprocess.run(
                list(step.argv),
                cwd=step.cwd,
                env=step.process_env(),
                input=step.stdin,
                text=True,
                capture_output=True,
                timeout=self.timeout,
                stdin=None if step.stdin is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            return Outcome(127, "", f"{step.argv[0]} not found on PATH")
        except subprocess.TimeoutExpired:
            return Outcome(124, "", f"no answer within {self.timeout:.0f}s")
        return Outcome(proc.returncode, proc.stdout, proc.stderr)


def _dry(name: str, what: str) -> Result:
    return Result(name, None, f"would check {what}")


# ---- cloud stage ------------------------------------------------------------------------------

# What each stage needs from the settings (provision needs the lease; the node checks the key).
CLOUD_SETTINGS = ("suffix", "key", "project", "reservation", "ssh_key", "clouds_yaml")
NODE_SETTINGS = ("ssh_key",)


def check_settings(settings: Settings, required: Sequence[str]) -> Result:
    name = "settings"
    problems = []
    for field_name in required:
        try:
            settings.require(field_name)
        except SettingsError as exc:
            problems.append(str(exc).split(";")[0])
    if settings.floating_ip:
        try:
            settings.require("floating_ip")
        except SettingsError as exc:
            problems.append(str(exc))
    key = Path(settings.ssh_key_path())
    if "ssh_key" in required and not key.is_file():
        problems.append(f"GG_SSH_KEY {settings.ssh_key}: no such file")
    if problems:
        return Result(name, False, "; ".join(problems), "set them in settings.env (see settings.env.example)")
    return Result(name, True, ", ".join(_env_name(f) for f in required) + " present and well-formed")


def _env_name(field_name: str) -> str:
    from gourmetgram.cluster.settings import ENV_NAMES

    return ENV_NAMES[field_name]


_PLACEHOLDER = re.compile(r"^<.*>$|^$")


def check_clouds_yaml(settings: Settings) -> Result:
    name = "clouds.yaml"
    path = settings.clouds_yaml_path()
    fix = (
        "Horizon > Identity > Application Credentials > Download clouds.yaml; paste its id and secret into "
        f"{path} (copy tf/kvm/clouds.yaml.example)"
    )
    if not path.is_file():
        return Result(name, False, f"{path} not found", fix)
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        return Result(name, False, f"{path} is not YAML{where}: {getattr(exc, 'problem', exc)}", fix)
    clouds = doc.get("clouds") if isinstance(doc, dict) else None
    if not isinstance(clouds, dict) or CLOUD_NAME not in clouds:
        found = ", ".join(clouds) if isinstance(clouds, dict) else "none"
        return Result(
            name, False, f"{path} names no cloud {CLOUD_NAME!r} (found: {found})", f"name the cloud {CLOUD_NAME!r}"
        )
    auth = (clouds[CLOUD_NAME] or {}).get("auth") or {}
    if not auth.get("auth_url"):
        return Result(name, False, f"cloud {CLOUD_NAME!r} has no auth.auth_url", fix)
    if "application_credential_id" in auth or "application_credential_secret" in auth:
        missing = [
            k
            for k in ("application_credential_id", "application_credential_secret")
            if _PLACEHOLDER.match(str(auth.get(k) or ""))
        ]
        if missing:
            return Result(name, False, f"{', '.join(missing)} still the placeholder or empty", fix)
    return Result(name, True, f"cloud {CLOUD_NAME!r} at {auth['auth_url']}")


def _openstack(settings: Settings, *args: str) -> Step:
    return Step(argv=("openstack", *args), env=cloud.openstack_env(settings), unset_env_prefixes=("OS_",))


def keypair_steps(settings: Settings) -> list[Step]:
    return [
        _openstack(settings, "keypair", "show", settings.key, "-f", "json"),
        _openstack(settings, "keypair", "show", settings.key, "--public-key"),
    ]


def _key_blob(public_key_line: str) -> str | None:
    """The base64 key body of an OpenSSH public key line (type, blob, comment)."""
    for part in public_key_line.split():
        if len(part) > 40:
            try:
                base64.b64decode(part, validate=True)
                return part
            except ValueError:
                continue
    return None


def local_public_key_step(settings: Settings) -> Step:
    """The public half of GG_SSH_KEY: ssh-keygen -y (the .pub file can be stale or missing)."""
    return Step(argv=("ssh-keygen", "-y", "-P", "", "-f", settings.ssh_key_path()))


def _local_public_key(settings: Settings, probe: Probe) -> Outcome | None:
    """ssh-keygen -y; for a key with a passphrase (it cannot be read unattended) the .pub file beside it."""
    out = probe.run(local_public_key_step(settings))
    pub = Path(settings.ssh_key_path() + ".pub")
    if out is not None and not out.ok and pub.is_file():
        return Outcome(0, pub.read_text())
    return out


def check_keypair(settings: Settings, probe: Probe) -> Result:
    name = f"key pair {settings.key} at {settings.site}"
    shown, public = (probe.run(s) for s in keypair_steps(settings))
    local = _local_public_key(settings, probe)
    if shown is None or public is None or local is None:
        return _dry(name, "that it exists and matches GG_SSH_KEY")
    if not shown.ok:
        return Result(
            name,
            False,
            f"not found ({shown.reason()})",
            f"import your public key at {settings.site} (Horizon > Compute > Key Pairs) or fix GG_KEY",
        )
    try:
        fingerprint = json.loads(shown.stdout).get("fingerprint", "?")
    except (ValueError, AttributeError):
        return Result(name, False, "openstack keypair show did not answer JSON", "check the openstack CLI")
    if not local.ok:
        return Result(
            name,
            False,
            f"cannot read the public half of {settings.ssh_key} ({local.reason()})",
            "point GG_SSH_KEY at the private key of that key pair",
        )
    if _key_blob(public.stdout) != _key_blob(local.stdout):
        return Result(
            name,
            False,
            f"{settings.ssh_key} is not the private key of key pair {settings.key}",
            "set GG_SSH_KEY to the matching private key, or GG_KEY to the key pair of this key",
        )
    return Result(name, True, f"matches {settings.ssh_key} (fingerprint {fingerprint})")


def agent_step() -> Step:
    return Step(argv=("ssh-add", "-L"))


def check_agent(settings: Settings, probe: Probe) -> Result:
    name = "ssh-agent"
    listed, local = probe.run(agent_step()), _local_public_key(settings, probe)
    if listed is None or local is None:
        return _dry(name, f"that {settings.ssh_key} is loaded (Ansible forwards the agent to node1)")
    fix = f'eval "$(ssh-agent -s)" && ssh-add {settings.ssh_key}'
    if listed.returncode == 2 or "Could not open a connection" in listed.stderr:
        return Result(name, False, "no agent running", fix)
    blob = _key_blob(local.stdout) if local.ok else None
    if blob is None:
        return Result(name, False, f"cannot read the public half of {settings.ssh_key} ({local.reason()})", fix)
    if not any(_key_blob(line) == blob for line in listed.stdout.splitlines()):
        return Result(name, False, f"{settings.ssh_key} is not loaded in the agent", fix)
    return Result(name, True, f"{settings.ssh_key} loaded")


def lease_step(settings: Settings) -> Step:
    return _openstack(settings, "reservation", "lease", "show", cloud.lease_name(settings), "-f", "json")


def parse_reservations(value) -> list[dict]:
    """The lease's reservations: a list, or python-blazarclient's string of JSON objects (one per line block)."""
    if isinstance(value, list):
        return [r for r in value if isinstance(r, dict)]
    if not isinstance(value, str) or not value.strip():
        return []
    decoder, text, out, pos = json.JSONDecoder(), value.strip(), [], 0
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        if isinstance(obj, dict):
            out.append(obj)
        elif isinstance(obj, list):
            out.extend(r for r in obj if isinstance(r, dict))
        pos = end
        while pos < len(text) and text[pos] in " \n\r\t,":
            pos += 1
    return out


def check_lease(settings: Settings, probe: Probe) -> Result:
    lease = cloud.lease_name(settings)
    name = f"lease {lease}"
    shown = probe.run(lease_step(settings))
    if shown is None:
        return _dry(name, f"ACTIVE with {cloud.LEASE_NODES} x {cloud.LEASE_FLAVOR} of flavor GG_RESERVATION")
    if not shown.ok:
        return Result(name, False, f"not found ({shown.reason()})", "create it: invoke lease")
    try:
        doc = json.loads(shown.stdout)
        reservations = parse_reservations(doc.get("reservations"))
    except (ValueError, AttributeError):
        return Result(name, False, "openstack reservation lease show did not answer JSON", "check the Blazar client")
    status = str(doc.get("status", "?"))
    if status.upper() != "ACTIVE":
        when = f"starts {doc.get('start_date')}" if status.upper() == "PENDING" else f"ends {doc.get('end_date')}"
        return Result(name, False, f"status {status} ({when})", "wait until it is ACTIVE, or make a new one")
    flavors = [r for r in reservations if r.get("resource_type") == "flavor:instance"]
    ours = [r for r in flavors if str(r.get("flavor_id")) == str(settings.reservation)]
    if not ours:
        found = ", ".join(str(r.get("flavor_id")) for r in flavors) or "none"
        return Result(
            name,
            False,
            f"no flavor reservation {settings.reservation} (GG_RESERVATION); the lease has: {found}",
            "set GG_RESERVATION to the flavor ID `invoke lease` printed",
        )
    amount = int(ours[0].get("amount") or 0)
    if amount < cloud.LEASE_NODES:
        return Result(
            name,
            False,
            f"reserves {amount} instance(s), the lab needs {cloud.LEASE_NODES}",
            "make a new lease: invoke lease",
        )
    if doc.get("degraded"):
        return Result(name, False, "degraded: reserved resources are missing", "make a new lease: invoke lease")
    return Result(
        name, True, f"ACTIVE until {doc.get('end_date')}, {amount} instances of flavor {settings.reservation}"
    )


def required_security_groups(tf_file: Path = TF_DATA_FILE) -> list[str]:
    """The security group names tf/kvm/data.tf looks up (local.security_group_names): one source of truth."""
    text = tf_file.read_text()
    block = re.search(r"security_group_names\s*=\s*\[(.*?)\]", text, re.S)
    if not block:
        raise BadAnswer(f"{tf_file} has no security_group_names list")
    return re.findall(r'"([^"]+)"', block.group(1))


def security_groups_step(settings: Settings) -> Step:
    return _openstack(settings, "security", "group", "list", "-f", "json", "-c", "Name")


def check_security_groups(settings: Settings, probe: Probe) -> Result:
    needed = required_security_groups()
    name = f"security groups ({len(needed)})"
    listed = probe.run(security_groups_step(settings))
    if listed is None:
        return _dry(name, ", ".join(needed))
    if not listed.ok:
        return Result(name, False, f"cannot list them ({listed.reason()})", "check clouds.yaml and the project")
    try:
        have = {str(g.get("Name")) for g in json.loads(listed.stdout)}
    except (ValueError, AttributeError):
        return Result(name, False, "openstack security group list did not answer JSON", "check the openstack CLI")
    missing = [g for g in needed if g not in have]
    if missing:
        return Result(
            name,
            False,
            f"missing in the project: {', '.join(missing)}",
            "create them once per project (the lab's security group step), e.g. "
            f"openstack security group create {missing[0]}",
        )
    return Result(name, True, "all present: " + ", ".join(needed))


def cloud_checks(settings: Settings, probe: Probe) -> list[Callable[[], Result]]:
    return [
        lambda: check_settings(settings, CLOUD_SETTINGS),
        lambda: check_clouds_yaml(settings),
        lambda: check_keypair(settings, probe),
        lambda: check_agent(settings, probe),
        lambda: check_lease(settings, probe),
        lambda: check_security_groups(settings, probe),
    ]


# ---- nodes stage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeAccess:
    """How to reach the nodes: node1's floating IP, then node2/3 by private IP through it."""

    floating_ip: str
    ssh_key: str
    nodes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NODES))
    user: str = ssh.NODE_IMAGE_USER

    def _base(self) -> list[str]:
        return [
            "ssh", "-i", self.ssh_key, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT}",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def step(self, node: str, remote: list[str]) -> Step:
        """ssh to node (node1 directly at the floating IP, the others through it) running `remote`."""
        first = next(iter(self.nodes))
        if node == first:
            argv = [*self._base(), f"{self.user}@{self.floating_ip}"]
        else:
            jump = proxy_command(self.floating_ip, self.user, self.ssh_key, extra_ssh_args=("-o", "BatchMode=yes"))
            argv = [*self._base(), "-o", f"ProxyCommand={jump}", f"{self.user}@{self.nodes[node]}"]
        return Step(argv=(*argv, shlex.join(remote)))


# python3 programs run on the nodes, sent on stdin (`python3 - ARGS`): readable in --dry-run,
# and a node without python3 fails visibly. No curl needed there.
_FACTS = """import json, os, shutil, sys
mem = [line for line in open("/proc/meminfo") if line.startswith("MemTotal:")][0].split()[1]
print(json.dumps({"hostname": os.uname().nodename, "python": list(sys.version_info[:3]),
                  "mem_kib": int(mem), "disk_free": shutil.disk_usage("/").free, "cpus": os.cpu_count()}))
"""


def _python_step(access: NodeAccess, node: str, program: str, *args: str) -> Step:
    step = access.step(node, ["python3", "-", *args])
    return Step(argv=step.argv, stdin=program)


def facts_step(access: NodeAccess, node: str) -> Step:
    return _python_step(access, node, _FACTS)


def check_ssh(access: NodeAccess, probe: Probe, node: str) -> Result:
    first = next(iter(access.nodes))
    how = f"{access.user}@{access.floating_ip}" if node == first else f"{access.nodes[node]} through {first}"
    name = f"ssh {node} ({how})"
    out = probe.run(access.step(node, ["true"]))
    if out is None:
        return _dry(name, "that it answers")
    if not out.ok:
        fix = (
            "is the instance up and the floating IP right (GG_FLOATING_IP, `invoke provision`)? is allow-ssh attached?"
            if node == first
            else f"{first} must reach {access.nodes[node]} on the private network: check the node in Horizon"
        )
        return Result(name, False, out.reason(), fix)
    return Result(name, True)


def check_resources(
    access: NodeAccess,
    probe: Probe,
    node: str,
    min_memory_gib: float = MIN_MEMORY_GIB,
    min_disk_gb: float = MIN_DISK_FREE_GB,
    min_python: tuple[int, int] = MIN_NODE_PYTHON,
) -> Result:
    name = f"{node} resources"
    out = probe.run(facts_step(access, node))
    if out is None:
        return _dry(name, f"memory >= {min_memory_gib} GiB, free disk >= {min_disk_gb} GB, python3 >= 3.8")
    if not out.ok:
        if out.returncode == 127 or "python3: not found" in out.stderr or "No such file" in out.stderr:
            return Result(name, False, "no python3 on the node", "use the lab's image (CC-Ubuntu24.04)")
        return Result(name, False, out.reason(), "check ssh to the node first")
    try:
        facts = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Result(name, False, f"unexpected answer {out.stdout[:100]!r}", "check python3 on the node")
    mem_gib = facts["mem_kib"] / 2**20
    disk_gb = facts["disk_free"] / 1e9
    python = tuple(facts["python"][:2])
    detail = (
        f"{mem_gib:.1f} GiB memory, {disk_gb:.0f} GB free on /, python {'.'.join(map(str, facts['python']))}, "
        f"{facts['cpus']} CPUs"
    )
    problems = []
    if mem_gib < min_memory_gib:
        problems.append(f"memory {mem_gib:.1f} GiB < {min_memory_gib}")
    if disk_gb < min_disk_gb:
        problems.append(f"free disk {disk_gb:.0f} GB < {min_disk_gb:.0f}")
    if python < tuple(min_python):
        problems.append(f"python {python} < {min_python}")
    if problems:
        return Result(name, False, "; ".join(problems) + f" ({detail})", f"the lab needs {cloud.LEASE_FLAVOR} nodes")
    return Result(name, True, detail)


# Ubuntu 24.04's AppArmor forbids unprivileged user namespaces (1); rootless BuildKit needs them.
# pre_k8s (ansible/tasks/userns_sysctl.yml) sets 0; a kernel without the file has no restriction.
USERNS_SYSCTL = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"


def userns_step(access: NodeAccess, node: str) -> Step:
    return access.step(node, ["sh", "-c", f"cat {USERNS_SYSCTL} 2>/dev/null || echo absent"])


def check_userns(access: NodeAccess, probe: Probe, node: str) -> Result:
    name = f"{node} user namespaces"
    out = probe.run(userns_step(access, node))
    if out is None:
        return _dry(name, "kernel.apparmor_restrict_unprivileged_userns is 0 or absent (rootless BuildKit)")
    if not out.ok:
        return Result(name, False, out.reason(), "check ssh to the node first")
    value = (out.stdout.strip().splitlines() or [""])[-1].strip()
    if value in ("0", "absent"):
        return Result(name, True, "no AppArmor restriction" if value == "absent" else "allowed (restriction 0)")
    if value == "1":
        # Ubuntu's default before pre_k8s ran: not a reason to stop `invoke k8s`, whose first stage fixes it.
        return Result(
            name,
            None,
            "restricted (kernel.apparmor_restrict_unprivileged_userns = 1): `invoke k8s` (stage pre_k8s) sets 0; "
            "until then rootless BuildKit cannot start and image builds fail",
        )
    return Result(
        name,
        False,
        f"unexpected kernel.apparmor_restrict_unprivileged_userns {value!r}",
        "run `invoke k8s --from-stage pre_k8s` (it persists 0 in /etc/sysctl.d/99-gourmetgram-userns.conf)",
    )


# ---- pinned downloads from node1 --------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    name: str
    url: str
    sha256: str = ""
    sha256_url: str = ""


_JINJA_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _render(text: str, variables: Mapping[str, object]) -> str:
    """The `{{ var }}` references versions.yml uses (top-level variables only)."""
    for _ in range(5):  # nested: a variable whose value references another
        new = _JINJA_VAR.sub(lambda m: str(variables.get(m.group(1), m.group(0))), text)
        if new == text:
            break
        text = new
    return text


def pinned_downloads(versions_file: Path = VERSIONS_FILE) -> list[Download]:
    """gg_downloads of ansible/vars/versions.yml, with their `{{ var }}` references filled in."""
    doc = yaml.safe_load(versions_file.read_text()) or {}
    out = []
    for name, entry in (doc.get("gg_downloads") or {}).items():
        entry = {k: _render(str(v), doc) for k, v in (entry or {}).items() if v is not None}
        out.append(Download(name, entry.get("url", ""), entry.get("sha256", ""), entry.get("sha256_url", "")))
    return out


# Fetch on node1, print the sha256 and size.
_FETCH = """import hashlib, sys, urllib.request
digest, size = hashlib.sha256(), 0
with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as answer:
    for chunk in iter(lambda: answer.read(1 << 16), b""):
        digest.update(chunk)
        size += len(chunk)
print(digest.hexdigest(), size)
"""
# Print a (publisher's checksum) file fetched on node1.
_CAT = """import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=60).read().decode())
"""


def fetch_step(access: NodeAccess, url: str) -> Step:
    return _python_step(access, next(iter(access.nodes)), _FETCH, url, str(DOWNLOAD_TIMEOUT))


def _sha_from_checksum_file(text: str, url: str) -> str | None:
    filename = url.rsplit("/", 1)[-1]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].lstrip("*").rsplit("/", 1)[-1] == filename and len(parts[0]) == 64:
            return parts[0].lower()
    return None


def check_download(access: NodeAccess, probe: Probe, download: Download) -> Result:
    name = f"download {download.name}"
    if not download.url:
        return Result(name, False, "no url in ansible/vars/versions.yml", "pin its url")
    steps = [fetch_step(access, download.url)]
    if not download.sha256 and download.sha256_url:
        steps.append(_python_step(access, next(iter(access.nodes)), _CAT, download.sha256_url))
    outs = [probe.run(s) for s in steps]
    if None in outs:
        return _dry(name, f"{download.url} answers from node1 and matches its sha256")
    got = outs[0]
    if not got.ok:
        return Result(
            name, False, f"{download.url} did not answer from node1 ({got.reason()})", "check the URL and pin"
        )
    try:
        digest, size = got.stdout.split()[-2:]
    except ValueError:
        return Result(name, False, f"unexpected answer {got.stdout[:100]!r}", "check python3 on node1")
    if download.sha256:
        want, source = download.sha256.lower(), "the pinned sha256"
    elif download.sha256_url:
        listed = outs[1]
        want = _sha_from_checksum_file(listed.stdout, download.url) if listed.ok else None
        source = f"the publisher's checksum file {download.sha256_url}"
        if want is None:
            return Result(
                name, False, f"{download.sha256_url} has no line for {download.url.rsplit('/', 1)[-1]}", "check it"
            )
    else:
        return Result(
            name,
            False,
            f"no sha256 pinned (downloaded: {digest}, {int(size)} bytes); the playbook refuses it",
            "compare it with the project's release page, then record sha256 in ansible/vars/versions.yml",
        )
    if digest != want:
        return Result(
            name,
            False,
            f"sha256 {digest} of {download.url} differs from {source} {want}",
            "the file changed upstream: check the release before updating the pin",
        )
    return Result(name, True, f"{int(size) / 1e6:.1f} MB, sha256 matches {source.split(' ')[1]}")


def node_checks(
    access: NodeAccess, probe: Probe, downloads: Sequence[Download] | None = None, **resource_limits
) -> list[Callable[[], Result]]:
    """ssh to every node, each node's resources, then every pinned download from node1."""
    checks: list[Callable[[], Result]] = []
    for node in access.nodes:
        checks.append(lambda node=node: check_ssh(access, probe, node))
    for node in access.nodes:
        checks.append(lambda node=node: check_resources(access, probe, node, **resource_limits))
    for node in access.nodes:
        checks.append(lambda node=node: check_userns(access, probe, node))
    for d in pinned_downloads() if downloads is None else downloads:
        checks.append(lambda d=d: check_download(access, probe, d))
    return checks


# ---- running ------------------------------------------------------------------------------------


def run_checks(title: str, checks: Sequence[Callable[[], Result]], echo: Callable[[str], None] = print) -> list:
    """Run the checks in order, one line each (printed as each finishes); returns the results."""
    echo(f"preflight: {title}")
    results = []
    for check in checks:
        result = check()
        echo(result.line())
        results.append(result)
    return results


def summary(results: Sequence[Result]) -> str:
    ok = sum(1 for r in results if r.ok)
    failed = sum(1 for r in results if r.ok is False)
    rest = len(results) - ok - failed
    return f"preflight: {ok} ok, {failed} FAILED" + (f", {rest} not checked" if rest else "")
