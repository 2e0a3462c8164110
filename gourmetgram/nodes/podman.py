"""Podman with every config, storage and network file under one state dir.

Nothing here reads or writes the machine's global podman state
(/etc/containers, /var/lib/containers, /run/containers): CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF point at files we write,
and those point storage, run root, tmp dir and CNI network configs into the
state dir. The machine-specific settings (runc, cgroupfs, ulimits) live here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from gourmetgram.errors import GourmetGramError

RUNTIME = "runc"  # crun is not usable on this machine
CGROUP_MANAGER = "cgroupfs"  # no systemd as PID 1 on the host
DEFAULT_ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")
CNI_PLUGIN_DIRS = ("/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")


class PodmanError(GourmetGramError):
    """A podman command failed; the message holds the command and its stderr."""


class Podman:
    """Runs podman confined to `state_dir` (created on first use)."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir).resolve()
        self.conf_dir = self.state_dir / "podman-conf"
        self.root = self.state_dir / "storage"
        self.runroot = self.state_dir / "run"
        self.tmp_dir = self.state_dir / "tmp"
        self.network_dir = self.state_dir / "cni"
        self.ipam_dir = self.state_dir / "cni-ipam"
        if shutil.which("podman") is None:
            raise PodmanError("podman is not installed: run ./lab setup (it installs podman, runc, debootstrap)")

    # -- configuration ------------------------------------------------------
    def write_config(self) -> None:
        for d in (self.conf_dir, self.root, self.runroot, self.tmp_dir, self.network_dir, self.ipam_dir):
            d.mkdir(parents=True, exist_ok=True)
        ulimits = ", ".join(f'"{u}"' for u in DEFAULT_ULIMITS)
        plugin_dirs = ", ".join(f'"{d}"' for d in CNI_PLUGIN_DIRS)
        (self.conf_dir / "containers.conf").write_text(
            "# Generated for one lab-nodes run; see gourmetgram/nodes/podman.py\n"
            "[containers]\n"
            f"default_ulimits = [{ulimits}]\n"
            'log_driver = "k8s-file"\n'
            "[network]\n"
            'network_backend = "cni"\n'
            f'network_config_dir = "{self.network_dir}"\n'
            f"cni_plugin_dirs = [{plugin_dirs}]\n"
            "[engine]\n"
            f'runtime = "{RUNTIME}"\n'
            f'cgroup_manager = "{CGROUP_MANAGER}"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.state_dir / "events.log"}"\n'
            f'tmp_dir = "{self.tmp_dir}"\n'
            f'static_dir = "{self.root / "libpod"}"\n'
            f'volume_path = "{self.root / "volumes"}"\n'
            # File locks under tmp_dir: the default SHM locks (/dev/shm/libpod_lock) are machine-global.
            'lock_type = "file"\n'
        )
        (self.conf_dir / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n'
        )
        # No registries: images only come from our own debootstrap tarball.
        (self.conf_dir / "registries.conf").write_text("unqualified-search-registries = []\n")

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONTAINERS_CONF=str(self.conf_dir / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(self.conf_dir / "storage.conf"),
            CONTAINERS_REGISTRIES_CONF=str(self.conf_dir / "registries.conf"),
            TMPDIR=str(self.tmp_dir),
        )
        return env

    # -- running ------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return ["podman", "--root", str(self.root), "--runroot", str(self.runroot), *args]

    def run(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.argv(*args), env=self.env(), capture_output=True, text=True, input=input)
        if check and proc.returncode != 0:
            raise PodmanError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def exists(self, kind: str, name: str) -> bool:
        """kind: container | image | network."""
        return self.run(kind, "exists", name, check=False).returncode == 0

    def inspect(self, name: str) -> dict:
        return json.loads(self.run("inspect", name).stdout)[0]

    # -- networks -----------------------------------------------------------
    def create_bridge_network(self, name: str, bridge: str, subnet: str, gateway: str | None) -> None:
        """A CNI bridge network written by hand, because podman's generated one
        would masquerade and route to the internet (our nodes must not leave the
        machine) and keep IPAM state in the global /var/lib/cni.

        With `gateway` the host owns that address on the bridge and can reach the
        containers (node1's "floating IP" side); without it the host has no
        address there and cannot route to the subnet (the private network).
        No default route and no masquerade in either case: no firewall rules.
        """
        ipam: dict = {
            "type": "host-local",
            "dataDir": str(self.ipam_dir),
            "ranges": [[{"subnet": subnet, **({"gateway": gateway} if gateway else {})}]],
        }
        conflist = {
            "cniVersion": "0.4.0",
            "name": name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": gateway is not None,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": ipam,
                }
            ],
        }
        self.network_dir.mkdir(parents=True, exist_ok=True)
        (self.network_dir / f"{name}.conflist").write_text(json.dumps(conflist, indent=2) + "\n")
        if not self.exists("network", name):
            raise PodmanError(f"podman does not see the network {name} written to {self.network_dir}")

    def remove_network(self, name: str, bridge: str) -> None:
        self.run("network", "rm", "-f", name, check=False)
        (self.network_dir / f"{name}.conflist").unlink(missing_ok=True)
        # The bridge plugin leaves the (now empty) bridge device behind.
        if Path(f"/sys/class/net/{bridge}").exists():
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
