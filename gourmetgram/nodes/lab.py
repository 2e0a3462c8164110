"""Three lab nodes on this machine: Debian 12 systemd containers under podman.

Layout, as on the cloud: every node sits on the private network 192.168.1.0/24
(.11/.12/.13) which the host cannot route to; node1 also sits on a second
"public" bridge where the host owns the gateway address, so node1's address
there plays the floating IP. SSH reaches node2/node3 only through node1.
Everything (podman config and storage, networks, SSH key, ansible files, the
record of this run) lives under one state dir; `down` removes all of it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from gourmetgram.cluster.inventory import DEFAULT_NODES
from gourmetgram.errors import GourmetGramError, NotReady
from gourmetgram.nodes import image
from gourmetgram.nodes.playbooks import ansible_env
from gourmetgram.nodes.podman import Podman, PodmanError
from gourmetgram.paths import REPO_ROOT

# The lab's nodes and private addresses, as Terraform and the cluster inventory have them.
NODES = dict(DEFAULT_NODES)
PRIVATE_SUBNET = "192.168.1.0/24"
JUMP_HOST = "node1"
PUBLIC_POOL = ipaddress.ip_network("10.213.0.0/16")  # the /24 for node1's public side is picked from here
RUN_LABEL = "gourmetgram.nodes.run"
# Beyond podman's defaults: sshd's PAM writes audit records; the IPv6 sysctl
# play writes net.* sysctls of the node's own network namespace (NET_ADMIN,
# /proc/sys writable); ping for debugging. Global kernel sysctls stay out of
# reach (they need CAP_SYS_ADMIN, which the nodes do not get).
# The CNI library keeps its result cache here whatever podman is told; it is
# empty again after our networks are removed, so `down` removes the empty dirs.
CNI_GLOBAL_DIRS = ("/var/lib/cni/results", "/var/lib/cni")
CAPS = ("AUDIT_WRITE", "NET_ADMIN", "NET_RAW")


# Where rootful podman (like `ip netns`) bind-mounts network namespaces. The
# first network namespace ever created on a machine turns this directory into a
# shared mount of itself and leaves it so for every later user: host setup, not
# a leftover of one run. prepare_host() makes it so before a run starts, so the
# mount exists whether or not podman ran on this machine before.
NETNS_DIR = Path("/run/netns")


def _is_mountpoint(path: Path) -> bool:
    return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())


def prepare_host() -> None:
    """One-time host setup podman would do on its first network namespace (idempotent, needs root).

    As containers/common's netns package does: create /run/netns, bind-mount it
    on itself if it is not a mount point yet, and make it shared (recursively)."""
    NETNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not _is_mountpoint(NETNS_DIR):
        subprocess.run(["mount", "--rbind", str(NETNS_DIR), str(NETNS_DIR)], check=True)
    subprocess.run(["mount", "--make-rshared", str(NETNS_DIR)], check=True)


def default_state_dir() -> Path:
    return Path(os.environ.get("GG_NODES_DIR", REPO_ROOT / ".state" / "nodes"))


@dataclass
class NodesRecord:
    """What `up` created; written to <state>/nodes.json for status/down/tests."""

    run_id: str
    floating_ip: str
    public_subnet: str
    private_subnet: str
    nodes: dict[str, str]  # name -> private IP
    containers: dict[str, str]  # name -> container name
    interfaces: dict[str, dict[str, str]]  # name -> {"private": ifname, "public": ifname?}
    networks: dict[str, str]  # "private"/"public" -> podman network name
    bridges: dict[str, str]  # "private"/"public" -> bridge device
    ssh_key: str
    ansible_dir: str
    rootfs: str  # the cached unpacked image; each node writes only to its own overlay on top


class LabNodes:
    def __init__(self, state_dir: Path | None = None, log=print):
        self.state_dir = Path(state_dir or default_state_dir()).resolve()
        self.log = log
        self.podman = Podman(self.state_dir)
        self.record_file = self.state_dir / "nodes.json"

    # -- record -------------------------------------------------------------
    def record(self) -> NodesRecord | None:
        if not self.record_file.exists():
            return None
        return NodesRecord(**json.loads(self.record_file.read_text()))

    def _save(self, rec: NodesRecord) -> None:
        self.record_file.write_text(json.dumps(asdict(rec), indent=2) + "\n")

    # -- up -----------------------------------------------------------------
    def up(self, timeout: float = 180) -> NodesRecord:
        """Create the three nodes and wait until Ansible reaches all of them via node1.

        On any failure everything created so far is torn down again."""
        if self.record() is not None:
            raise GourmetGramError(f"lab nodes already up (state {self.state_dir}); run `invoke nodes.down` first")
        if os.geteuid() != 0:
            raise GourmetGramError("lab nodes need root (rootful podman with bridge networks)")
        prepare_host()
        rootfs = image.rootfs_dir(log=self.log)
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        run_id = secrets.token_hex(3)
        public = _free_public_subnet()
        gw = str(public.network_address + 1)
        floating_ip = str(public.network_address + 11)
        rec = NodesRecord(
            run_id=run_id,
            floating_ip=floating_ip,
            public_subnet=str(public),
            private_subnet=PRIVATE_SUBNET,
            nodes=dict(NODES),
            containers={n: f"gg-{run_id}-{n}" for n in NODES},
            interfaces={},
            networks={"private": f"gg-{run_id}-private", "public": f"gg-{run_id}-public"},
            bridges={"private": f"gg{run_id}priv", "public": f"gg{run_id}pub"},
            ssh_key=str(self.state_dir / "ssh" / "id_ed25519"),
            ansible_dir=str(self.state_dir / "ansible"),
            rootfs=str(rootfs),
        )
        self._save(rec)  # from here on, down() knows what to clean up
        try:
            self.podman.write_config()
            self._ssh_key(rec)
            self.podman.create_bridge_network(rec.networks["private"], rec.bridges["private"], PRIVATE_SUBNET, None)
            self.podman.create_bridge_network(rec.networks["public"], rec.bridges["public"], str(public), gw)
            for name in NODES:
                self._start_node(rec, name)
            rec.interfaces = {name: self._interfaces(rec, name) for name in NODES}
            self._save(rec)
            self._write_ansible_files(rec)
            self._wait_reachable(rec, timeout)
        except BaseException:
            self.log("lab nodes: failed to come up; tearing down what was created")
            self.down()
            raise
        self.log(
            f"lab nodes up in {time.monotonic() - started:.0f} s: "
            + ", ".join(f"{n} {ip}" for n, ip in NODES.items())
            + f"; jump host (floating IP) {floating_ip}; ansible files in {rec.ansible_dir}"
        )
        return rec

    def _ssh_key(self, rec: NodesRecord) -> None:
        key = Path(rec.ssh_key)
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"gourmetgram-nodes-{rec.run_id}", "-f", str(key)],
            check=True,
        )
        # Mounted read-only at image.AUTHORIZED_KEYS_DIR in every node.
        keys = self.state_dir / "authorized_keys"
        keys.mkdir(mode=0o755, exist_ok=True)
        shutil.copyfile(f"{key}.pub", keys / image.USER)
        os.chmod(keys / image.USER, 0o644)

    def _start_node(self, rec: NodesRecord, name: str) -> None:
        nets = [f"{rec.networks['private']}:ip={NODES[name]}"]
        if name == JUMP_HOST:
            nets.append(f"{rec.networks['public']}:ip={rec.floating_ip}")
        args = ["run", "-d", "--name", rec.containers[name], "--hostname", name, "--label", f"{RUN_LABEL}={rec.run_id}"]
        for net in nets:
            args += ["--network", net]
        for cap in CAPS:
            args += ["--cap-add", cap]
        args += [
            "--systemd=always",
            "--security-opt",
            "unmask=/proc/sys",
            "--volume",
            f"{self.state_dir / 'authorized_keys'}:{image.AUTHORIZED_KEYS_DIR}:ro",
            # An overlay on the cached root filesystem, not `podman import`: an
            # imported image would also write podman's machine-global blob cache.
            "--rootfs",
            f"{rec.rootfs}:O",
            "/sbin/init",
        ]
        self.podman.run(*args)

    def _interfaces(self, rec: NodesRecord, name: str) -> dict[str, str]:
        """Interface names inside the node, by which network they are on."""
        out = self.podman.run("exec", rec.containers[name], "ip", "-j", "-4", "addr", "show").stdout
        private = ipaddress.ip_network(rec.private_subnet)
        public = ipaddress.ip_network(rec.public_subnet)
        found: dict[str, str] = {}
        for link in json.loads(out):
            for addr in link.get("addr_info", []):
                ip = ipaddress.ip_address(addr["local"])
                if ip in private:
                    found["private"] = link["ifname"]
                elif ip in public:
                    found["public"] = link["ifname"]
        if "private" not in found:
            raise PodmanError(f"{name} has no address on {rec.private_subnet}: {out}")
        return found

    def _write_ansible_files(self, rec: NodesRecord) -> None:
        # The SAME code path `invoke provision` uses for a real floating IP.
        from gourmetgram.cluster.inventory import write_ansible_files

        ansible_dir = Path(rec.ansible_dir)
        write_ansible_files(rec.floating_ip, rec.nodes, ansible_dir, ssh_key=rec.ssh_key)
        # Per-node interface names (Ansible reads host_vars/ beside the inventory);
        # playbooks.NODE_EXTRA_VARS maps the playbooks' interface variables onto them.
        host_vars = ansible_dir / "host_vars"
        host_vars.mkdir(exist_ok=True)
        for name in rec.nodes:
            (host_vars / f"{name}.yml").write_text(
                f"gg_node_public_interface: {public_interface(rec, name)}\n"
                f"gg_node_private_interface: {rec.interfaces[name]['private']}\n"
            )

    def _wait_reachable(self, rec: NodesRecord, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.log(f"lab nodes: waiting for sshd on {rec.floating_ip} and Ansible through the jump host")
        while True:
            try:
                with socket.create_connection((rec.floating_ip, 22), timeout=2):
                    break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise NotReady(f"sshd on node1 ({rec.floating_ip}:22) did not answer in {timeout:.0f} s") from e
                time.sleep(1)
        last = ""
        while time.monotonic() < deadline:
            proc = self.ansible("all", "-m", "ansible.builtin.ping")
            if proc.returncode == 0:
                return
            last = proc.stdout + proc.stderr
            time.sleep(2)
        raise NotReady(f"Ansible could not reach all nodes through node1 in {timeout:.0f} s:\n{last[-2000:]}")

    def ansible(self, pattern: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Ad-hoc `ansible <pattern> ...` with this run's ansible.cfg + inventory."""
        rec = self.record()
        if rec is None:
            raise GourmetGramError("lab nodes are not up")
        ansible_dir = Path(rec.ansible_dir)
        env = dict(os.environ, **ansible_env(ansible_dir))
        return subprocess.run(
            ["ansible", "-i", str(ansible_dir / "inventory.yml"), pattern, *args],
            cwd=ansible_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    # -- status -------------------------------------------------------------
    def status(self) -> list[dict[str, str]]:
        rec = self.record()
        if rec is None:
            return []
        rows = []
        for name, container in rec.containers.items():
            if self.podman.exists("container", container):
                state = self.podman.inspect(container)["State"]["Status"]
            else:
                state = "missing"
            rows.append({"node": name, "container": container, "private_ip": rec.nodes[name], "state": state})
        return rows

    # -- down ---------------------------------------------------------------
    def down(self) -> None:
        """Remove containers, networks, bridges, podman storage and the state dir.

        Safe to call repeatedly and after a partial `up`."""
        rec = self.record()
        if rec is not None and self.podman.conf_dir.exists():
            self.podman.run("rm", "--force", "--time", "3", *rec.containers.values(), check=False)
            for kind in ("private", "public"):
                self.podman.remove_network(rec.networks[kind], rec.bridges[kind])
            # Unmounts podman's overlay storage.
            self.podman.run("system", "reset", "--force", check=False)
        _remove_empty_dirs(CNI_GLOBAL_DIRS)
        image.unmount_below(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        if rec is not None:
            self.log(f"lab nodes: removed run {rec.run_id} (containers, networks, storage, {self.state_dir})")


# Test runs keep their state in /var/tmp/ggn-*; a run killed hard (SIGKILL)
# cannot tear down, `invoke nodes.down --leftovers` finds and removes them.
TEST_RUNS_GLOB = "/var/tmp/ggn-*"


def leftover_runs() -> list[Path]:
    """State dirs of test runs (they hold nodes.json while their nodes may exist)."""
    import glob

    return sorted(Path(d) for d in glob.glob(TEST_RUNS_GLOB) if Path(d).is_dir())


def public_interface(rec: NodesRecord, name: str) -> str:
    """The node's "Internet-facing" interface: node1's public side; node2/3 have only the private one."""
    ifaces = rec.interfaces[name]
    return ifaces.get("public", ifaces["private"])


def _free_public_subnet() -> ipaddress.IPv4Network:
    """A /24 from PUBLIC_POOL that no host interface or route uses yet."""
    used = []
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default" and dst[0].isdigit():
            used.append(ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False))
    candidates = [n for n in PUBLIC_POOL.subnets(new_prefix=24) if not any(n.overlaps(u) for u in used)]
    if not candidates:
        raise GourmetGramError(f"no free /24 left in {PUBLIC_POOL} for node1's public network")
    return random.choice(candidates)


def _remove_empty_dirs(dirs: tuple[str, ...]) -> None:
    for d in dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass  # not empty (someone else's) or already gone
