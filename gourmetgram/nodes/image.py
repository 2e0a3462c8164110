"""The node image: a Debian 12 root filesystem built with debootstrap from
Debian's own packages, cached as a tarball keyed by everything that shapes it.

A rerun with the same package list and customisation finds the tarball and
skips debootstrap (minutes) entirely. Beside the tarball the cache keeps it
unpacked once: the nodes run on overlays of that directory (podman --rootfs
DIR:O writes only to each container's own upper layer), so a run neither
unpacks nor deletes a full root filesystem. The cache lives outside the
repository so a clean clone reuses it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gourmetgram.cluster.inventory import DEFAULT_USER
from gourmetgram.errors import GourmetGramError

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What the nodes need: systemd as PID 1, sshd, sudo and python3 for Ansible,
# and what the playbooks configure (firewalld to stop and mask, docker.io for
# the docker group and /etc/docker; its daemon stays masked), plus the tools
# the testinfra checks call (procps: sysctl/ps, iproute2: ip).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "sudo",
    "python3",
    "iproute2",
    "procps",
    "firewalld",
    # debootstrap does not resolve virtual packages: polkitd (for firewalld)
    # needs "default-logind | logind", which libpam-systemd provides.
    "libpam-systemd",
    "docker.io",
    "iputils-ping",
)
USER = DEFAULT_USER  # the lab's login user, as the inventory has it
# Where sshd also looks for keys: the run mounts its generated public key
# here read-only, so the image holds no key and each run brings its own.
AUTHORIZED_KEYS_DIR = "/etc/ssh/authorized_keys.d"
# Units that must not run in a node container: the docker daemon (the lab only
# needs its group and /etc/docker/daemon.json here) and containerd.
MASKED_UNITS = ("docker.service", "docker.socket", "containerd.service")

# Run inside the chroot after debootstrap. Changing it changes the cache key.
CUSTOMIZE = rf"""
set -eu
# An empty machine-id: systemd generates a fresh one in every node at boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
# No host keys in the image: every node generates its own at first boot.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/ssh-host-keys.service <<'UNIT'
[Unit]
Description=Generate this node's own SSH host keys
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes
[Install]
RequiredBy=ssh.service
WantedBy=multi-user.target
UNIT
systemctl enable ssh-host-keys.service ssh.service
cat > /etc/ssh/sshd_config.d/gourmetgram-node.conf <<'CONF'
AuthorizedKeysFile .ssh/authorized_keys {AUTHORIZED_KEYS_DIR}/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF
mkdir -p {AUTHORIZED_KEYS_DIR}
# The lab's user: cc with passwordless sudo, as on the Chameleon images.
useradd --create-home --shell /bin/bash --user-group {USER}
echo '{USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{USER}
chmod 0440 /etc/sudoers.d/{USER}
systemctl mask {" ".join(MASKED_UNITS)}
rm -f /etc/hostname
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""


def default_cache_dir() -> Path:
    env = os.environ.get("GG_NODES_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/gourmetgram/nodes")
    return Path.home() / ".cache" / "gourmetgram" / "nodes"


def apt_mirror(sources: tuple[Path, ...] = (Path("/etc/apt/sources.list"),)) -> str:
    """The Debian mirror this machine's apt uses (so debootstrap goes where apt goes)."""
    candidates = list(sources)
    d = Path("/etc/apt/sources.list.d")
    if d.is_dir():
        candidates += sorted(d.glob("*.sources")) + sorted(d.glob("*.list"))
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for m in re.finditer(r"^(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(\S+)", text, re.MULTILINE):
            uri = m.group(1).rstrip("/")
            if uri.endswith("/debian"):
                return uri
    return DEFAULT_MIRROR


def cache_key(mirror: str) -> str:
    text = "\n".join([SUITE, mirror, "minbase", *PACKAGES, CUSTOMIZE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rootfs_tarball(cache_dir: Path | None = None, log=print) -> Path:
    """Path to the cached rootfs tarball, building it first if missing."""
    cache_dir = Path(cache_dir or default_cache_dir())
    cache_dir.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror()
    tarball = cache_dir / f"debian-{SUITE}-node-{cache_key(mirror)}.tar.gz"
    # One builder at a time: a second run waits and then finds the tarball.
    with open(cache_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            log(f"node image: cached root filesystem {tarball}")
            return tarball
        _build(tarball, mirror, log)
    return tarball


def rootfs_dir(cache_dir: Path | None = None, log=print) -> Path:
    """The cached, unpacked root filesystem (read-only by convention: only overlays write)."""
    tarball = rootfs_tarball(cache_dir, log)
    unpacked = _unpacked_path(tarball)
    with open(tarball.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not unpacked.is_dir():
            log(f"node image: unpacking {tarball.name} into the cache (once)")
            partial = Path(tempfile.mkdtemp(prefix="unpack-", dir=tarball.parent))
            try:
                subprocess.run(["tar", "--numeric-owner", "-xzf", str(tarball), "-C", str(partial)], check=True)
                partial.chmod(0o755)
                partial.rename(unpacked)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
    return unpacked


def _unpacked_path(tarball: Path) -> Path:
    return tarball.with_name(tarball.name.removesuffix(".tar.gz") + ".rootfs")


def _build(tarball: Path, mirror: str, log) -> None:
    if os.geteuid() != 0:
        raise GourmetGramError("building the node image needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise GourmetGramError("debootstrap is not installed: run ./lab setup")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    rootfs = work / "rootfs"
    try:
        log(f"node image: debootstrap {SUITE} from {mirror} (a few minutes; cached afterwards)")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ],
            work / "debootstrap.log",
        )
        log("node image: customising (user cc, sshd, empty machine-id, masked docker daemon)")
        _run(["chroot", str(rootfs), "/bin/sh", "-c", CUSTOMIZE], work / "customize.log")
        log(f"node image: packing {tarball.name}")
        partial = tarball.with_suffix(".partial")
        with open(partial, "wb") as out:
            tar_argv = ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", "-", "."]
            tar = subprocess.Popen(tar_argv, stdout=subprocess.PIPE)
            gz = subprocess.run(["gzip", "-1"], stdin=tar.stdout, stdout=out, check=False)
            tar.stdout.close()
            if tar.wait() != 0 or gz.returncode != 0:
                raise GourmetGramError("packing the node root filesystem failed")
        partial.rename(tarball)
        # The freshly built tree is exactly what unpacking the tarball would give.
        rootfs.chmod(0o755)
        rootfs.rename(_unpacked_path(tarball))
    finally:
        # debootstrap mounts /proc, /sys (and in a container may bind /dev) in
        # the target; never let rmtree walk into a mount after a failure.
        unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _run(argv: list[str], logfile: Path) -> None:
    with open(logfile, "w") as log:
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-20:]
        sys.stderr.write("\n".join(tail) + "\n")
        raise GourmetGramError(f"{argv[0]} failed ({proc.returncode}); last lines above")


def unmount_below(path: Path) -> None:
    """Unmount everything mounted under `path` (deepest first)."""
    prefix = str(path)
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4]
            if mnt == prefix or mnt.startswith(prefix + "/"):
                mounts.append(mnt)
    for mnt in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True, check=False)
