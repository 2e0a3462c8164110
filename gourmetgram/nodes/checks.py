"""Node checks: what the playbooks promise, asserted on a testinfra host.

One implementation for both targets: tests/nodes (the lab nodes right after
the playbooks) and tests/endpoints (`nox -s integration`, GG_TARGET=local or
cluster) call these. Each function raises AssertionError with a message that
names the node and what is wrong. The Kubernetes checks need a cluster.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from gourmetgram import names

DAEMON_JSON = "/etc/docker/daemon.json"
CLUSTER_NAMESPACES = ("argo", "argocd", "argo-events")
MAX_CLOCK_OFFSET_S = 5.0


def _name(host) -> str:
    return host.backend.get_hostname()


# -- node level (pre_k8s and the node part of post_k8s) ------------------------
def firewalld_stopped_and_masked(host) -> None:
    state = host.run("systemctl is-enabled firewalld").stdout.strip()
    assert state == "masked", f"{_name(host)}: firewalld is {state!r}, expected masked"
    active = host.run("systemctl is-active firewalld").stdout.strip()
    assert active != "active", f"{_name(host)}: firewalld is running"


def docker_insecure_registry(host) -> None:
    f = host.file(DAEMON_JSON)
    assert f.exists, f"{_name(host)}: {DAEMON_JSON} missing"
    try:
        data = json.loads(f.content_string)
    except json.JSONDecodeError as e:
        raise AssertionError(f"{_name(host)}: {DAEMON_JSON} is not JSON: {e}") from None
    registries = data.get("insecure-registries", [])
    assert names.REGISTRY in registries, f"{_name(host)}: {names.REGISTRY} not in insecure-registries {registries}"


def user_in_docker_group(host, user: str = "cc") -> None:
    groups = host.user(user).groups
    assert "docker" in groups, f"{_name(host)}: {user} is not in group docker (groups: {groups})"


def ipv6_disabled(host, interface: str) -> None:
    # /proc rather than sysctl(8): /usr/sbin is not on a normal user's PATH.
    path = f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"
    value = host.run(f"cat {path}")
    assert value.rc == 0, f"{_name(host)}: no {path} (is {interface} the right interface?)"
    assert value.stdout.strip() == "1", f"{_name(host)}: {path} = {value.stdout.strip()}, expected 1"


def unprivileged_userns_allowed(host) -> None:
    # pre_k8s lifts Ubuntu 24.04's AppArmor restriction for rootless BuildKit; a kernel without it passes.
    # Not in NODE_CHECKS: the podman lab nodes share this machine's kernel (pre_k8s leaves it alone there).
    path = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    value = host.run(f"cat {path}")
    if value.rc == 0:
        assert value.stdout.strip() == "0", f"{_name(host)}: {path} = {value.stdout.strip()}, expected 0"


def sshd_running(host) -> None:
    assert host.socket("tcp://22").is_listening, f"{_name(host)}: nothing listens on port 22"
    # Debian/Ubuntu call the unit ssh (Ubuntu 24.04 may start it from ssh.socket).
    active = [u for u in ("ssh.service", "ssh.socket") if host.run(f"systemctl is-active {u}").rc == 0]
    assert active, f"{_name(host)}: neither ssh.service nor ssh.socket is active"


def time_in_sync(host) -> None:
    """The node's clock agrees with ours; a VM must also report NTP sync.

    A container shares the host kernel's clock, so NTP inside it does not apply."""
    before = time.time()
    out = host.run("date +%s.%N")
    after = time.time()
    assert out.rc == 0, f"{_name(host)}: date failed"
    node = float(out.stdout.strip())
    offset = 0.0 if before <= node <= after else min(abs(node - before), abs(node - after))
    assert offset <= MAX_CLOCK_OFFSET_S, f"{_name(host)}: clock is off by {offset:.1f} s"
    if host.run("systemd-detect-virt --container").rc != 0:
        synced = host.run("timedatectl show --property=NTPSynchronized --value").stdout.strip()
        assert synced == "yes", f"{_name(host)}: NTPSynchronized={synced!r}"


NODE_CHECKS = (
    firewalld_stopped_and_masked,
    docker_insecure_registry,
    user_in_docker_group,
    sshd_running,
    time_in_sync,
)


# -- Kubernetes (cluster target only) -----------------------------------------
def _kubectl_json(host, *args: str) -> dict:
    out = host.run("kubectl " + " ".join(args) + " -o json")
    assert out.rc == 0, f"{_name(host)}: kubectl {' '.join(args)} failed: {out.stderr.strip()}"
    return json.loads(out.stdout)


def kubectl_works_for_cc(host) -> None:
    out = host.run("kubectl get nodes")
    assert out.rc == 0, f"{_name(host)}: `kubectl get nodes` as cc failed: {out.stderr.strip()}"


def nodes_ready(host, expected: int = 3) -> None:
    items = _kubectl_json(host, "get", "nodes")["items"]
    ready = [
        n["metadata"]["name"]
        for n in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert len(ready) == expected, f"{len(ready)}/{len(items)} Kubernetes nodes Ready ({ready}), expected {expected}"


def namespaces_exist(host) -> None:
    have = {n["metadata"]["name"] for n in _kubectl_json(host, "get", "namespaces")["items"]}
    missing = [ns for ns in CLUSTER_NAMESPACES if ns not in have]
    assert not missing, f"namespaces missing: {missing}"


def argocd_apps_healthy(host) -> None:
    apps = _kubectl_json(host, "get", "applications.argoproj.io", "-n", "argocd")["items"]
    assert apps, "no Argo CD applications"
    bad = {}
    for a in apps:
        status = a.get("status", {})
        health = status.get("health", {}).get("status")
        sync = status.get("sync", {}).get("status")
        if health != "Healthy" or sync != "Synced":
            bad[a["metadata"]["name"]] = (health, sync)
    assert not bad, f"Argo CD apps not Healthy+Synced: {bad}"


def testinfra_hosts(ansible_dir: Path, names: list[str] | tuple[str, ...]) -> dict:
    """testinfra hosts that connect exactly as Ansible does (the generated ansible.cfg
    + inventory: node2/node3 through the jump host).

    One multiplexed SSH connection per node (ControlPath in a small ssh_config):
    without it every check would pay two SSH handshakes (jump host + node)."""
    import testinfra

    os.environ["ANSIBLE_CONFIG"] = str(ansible_dir / "ansible.cfg")
    inventory = ansible_dir / "inventory.yml"
    # A short directory: the control socket path must fit in 108 bytes.
    control_dir = Path(tempfile.mkdtemp(prefix="ggcp-", dir="/tmp"))
    atexit.register(shutil.rmtree, control_dir, True)
    ssh_config = control_dir / "ssh_config"
    ssh_config.write_text(f"Host *\n  ControlMaster auto\n  ControlPath {control_dir}/%C\n  ControlPersist 120s\n")
    return {
        name: testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}", ssh_config=str(ssh_config))
        for name in names
    }
