"""Three real systemd nodes: reachable only through node1, configured by the real
playbooks (twice: the second pass changes nothing), verified by testinfra, and
removed without a trace. Tests run in file order; the last one tears down."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from gourmetgram.controller import offline_assets
from gourmetgram.errors import NotReady
from gourmetgram.nodes import checks, playbooks
from gourmetgram.nodes.lab import NODES, LabNodes, prepare_host, public_interface

NODE_NAMES = tuple(NODES)


def test_nodes_are_separate_systemd_machines(lab, record):
    seen = {"machine-id": set(), "host key": set()}
    for name, container in record.containers.items():
        # podman exec, not SSH: this looks at the containers themselves.
        def sh(cmd: str, container=container) -> str:
            return lab.podman.run("exec", container, "sh", "-c", cmd).stdout.strip()

        assert sh("hostname") == name
        assert sh("cat /proc/1/comm") == "systemd"
        assert sh("systemctl is-system-running || true") in ("running", "degraded")
        seen["machine-id"].add(sh("cat /etc/machine-id"))
        seen["host key"].add(sh("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub"))
        assert sh("sudo -n -u cc sudo -n true && echo ok") == "ok"  # cc: passwordless sudo
    for what, values in seen.items():
        assert len(values) == len(NODES) and "" not in values, f"{what} not unique per node: {values}"


def test_podman_uses_runc_cgroupfs_limits_and_the_run_dir(lab, record):
    fmt = "{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphRoot}} {{.Store.RunRoot}}"
    runtime, cgroups, graph_root, run_root = lab.podman.run("info", "--format", fmt).stdout.split()
    assert (runtime, cgroups) == ("runc", "cgroupfs")
    for path in (graph_root, run_root):
        assert path.startswith(f"{lab.state_dir}/"), path
    limits = lab.podman.run("exec", record.containers["node1"], "cat", "/proc/1/limits").stdout
    assert re.search(r"Max open files\s+20000\s+20000", limits), limits
    assert re.search(r"Max processes\s+32768\s+32768", limits), limits


def test_node2_and_node3_only_through_node1(record):
    ansible_dir = Path(record.ansible_dir)
    inventory = yaml.safe_load((ansible_dir / "inventory.yml").read_text())["all"]
    assert {h: v["ansible_host"] for h, v in inventory["hosts"].items()} == NODES
    assert f"cc@{record.floating_ip}" in inventory["vars"]["ansible_ssh_common_args"]
    # The host owns an address on node1's public bridge, none on the private network,
    # so it has no route of its own into 192.168.1.0/24 (decided by routes, no packets sent).
    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    host_addrs = [ipaddress.ip_address(a["local"]) for link in json.loads(out) for a in link["addr_info"]]
    assert any(a in ipaddress.ip_network(record.public_subnet) for a in host_addrs)
    assert not any(a in ipaddress.ip_network(record.private_subnet) for a in host_addrs)
    for ip in NODES.values():
        route = json.loads(subprocess.run(["ip", "-j", "route", "get", ip], capture_output=True, text=True).stdout)
        assert route[0]["dev"] not in record.bridges.values(), f"host routes to {ip} over a lab bridge: {route}"


@pytest.mark.parametrize("index", range(len(playbooks.NODE_PLAYBOOKS)), ids=playbooks.NODE_PLAYBOOKS)
def test_playbook_applies_then_changes_nothing(playbook_passes, index):
    first, second = playbook_passes[0][index], playbook_passes[1][index]
    assert first.ok, first.output[-3000:]
    assert set(first.recap) == set(NODES)
    assert second.ok, second.output[-3000:]
    changed = {h: r.changed for h, r in second.recap.items() if r.changed}
    assert not changed, f"second run of {second.playbook} changed something: {changed}\n{second.output[-3000:]}"


@pytest.mark.parametrize("index", range(len(playbooks.NODE_PLAYBOOKS)), ids=playbooks.NODE_PLAYBOOKS)
def test_playbook_changes_nothing_under_the_controllers_python_3_10_ansible_core(py310_set_pass, index):
    """The controller's 3.10 set pins another ansible-core (2.17): it runs the same playbooks, changing nothing."""
    run = py310_set_pass[index]
    assert (
        "ansible-playbook [core 2.17"
        in subprocess.run(
            [str(offline_assets.ansible_py310_bin() / "ansible-playbook"), "--version"], capture_output=True, text=True
        ).stdout
    )
    assert run.ok, run.output[-3000:]
    assert set(run.recap) == set(NODES)
    changed = {h: r.changed for h, r in run.recap.items() if r.changed}
    assert not changed, f"{run.playbook} under ansible-core 2.17 changed something: {changed}\n{run.output[-3000:]}"


def test_hello_host_prints_every_node_hostname(playbook_passes):
    hello = playbook_passes[0][playbooks.NODE_PLAYBOOKS.index("general/hello_host.yml")]
    for name in NODES:
        assert f"The hostname of {name} is {name}" in hello.output


def test_first_pass_did_configure_the_nodes(playbook_passes):
    # Guards the changed=0 test against a run where nothing ever applied.
    assert sum(run.changed for run in playbook_passes[0]) > 0


@pytest.mark.parametrize("check", checks.NODE_CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("node", NODE_NAMES)
def test_node_check(hosts, node, check):
    check(hosts[node])


@pytest.mark.parametrize("node", NODE_NAMES)
def test_ipv6_disabled_on_the_public_interface(hosts, record, node):
    checks.ipv6_disabled(hosts[node], public_interface(record, node))


def test_planted_failure_unmasked_firewalld_is_caught(hosts):
    host = hosts["node2"]
    checks.firewalld_stopped_and_masked(host)
    host.run_expect([0], "sudo systemctl unmask firewalld")
    try:
        with pytest.raises(AssertionError, match="firewalld is .* expected masked"):
            checks.firewalld_stopped_and_masked(host)
    finally:
        host.run_expect([0], "sudo systemctl mask firewalld")
    checks.firewalld_stopped_and_masked(host)


def _netns_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if line.split()[4] == "/run/netns"]


def test_host_netns_dir_is_prepared_once_and_shared(before_up):
    # prepare_host ran before the snapshot (and in `up`): one shared /run/netns mount, never stacked.
    prepare_host()
    mounts = _netns_mounts()
    assert len(mounts) == 1, mounts
    assert "shared:" in mounts[0].split(" - ")[0], mounts[0]


def _preflight_access(record, **changes):
    from gourmetgram.cluster import preflight

    nodes = {**record.nodes, **changes}
    return preflight.NodeAccess(floating_ip=record.floating_ip, ssh_key=record.ssh_key, nodes=nodes)


def test_preflight_node_checks_pass_on_the_lab_nodes(record):
    """`invoke preflight`'s node stage, for real: ssh to node1 at the floating IP, node2/3 through it."""
    from gourmetgram.cluster import preflight

    lines: list[str] = []
    access = _preflight_access(record)
    # The podman nodes see this machine's memory and disk: limits small enough for any CI host.
    checks = preflight.node_checks(access, preflight.Probe(echo=lines.append), downloads=[], min_memory_gib=0.25,
                                   min_disk_gb=0.5)  # fmt: skip
    results = preflight.run_checks("nodes", checks, echo=lines.append)
    assert [r.ok for r in results[:6]] == [True] * 6, "\n".join(lines)
    assert all("python 3.11" in r.detail for r in results[3:6]), [r.detail for r in results[3:6]]
    # The nodes share this machine's kernel: its AppArmor user-namespace setting, read on each node.
    host = Path(preflight.USERNS_SYSCTL)
    expected = {"absent": True, "0": True, "1": None}[host.read_text().strip() if host.exists() else "absent"]
    assert [r.ok for r in results[6:]] == [expected] * 3, "\n".join(lines)
    assert all(r.name.endswith("user namespaces") for r in results[6:]), "\n".join(lines)
    # The same check fails when it must: more memory than the machine has, a node nobody answers at.
    big = preflight.check_resources(access, preflight.Probe(), "node2", min_memory_gib=1e6)
    assert big.ok is False and "memory" in big.detail
    missing = preflight.check_ssh(_preflight_access(record, node3="192.168.1.99"), preflight.Probe(), "node3")
    assert missing.ok is False and "private network" in missing.fix


def test_preflight_download_check_from_node1(record):
    """A pinned download served on node1's own loopback: the right sha256 passes, a wrong one fails."""
    import hashlib

    from gourmetgram.cluster import preflight

    access = _preflight_access(record)
    body = b"gourmetgram preflight download check\n" * 100
    port = 18765
    serve = (
        "mkdir -p /tmp/pf && cat > /tmp/pf/pinned.yaml && "
        f"(python3 -m http.server {port} --bind 127.0.0.1 --directory /tmp/pf </dev/null >/dev/null 2>&1 & "
        "echo $! > /tmp/pf.pid) && "
        f"for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' "
        "2>/dev/null && exit 0; sleep 0.1; done; exit 1"
    )
    started = subprocess.run(list(access.step("node1", ["sh", "-c", serve]).argv), input=body, capture_output=True)
    assert started.returncode == 0, started.stderr
    try:
        url = f"http://127.0.0.1:{port}/pinned.yaml"
        right = preflight.Download("pinned", url, sha256=hashlib.sha256(body).hexdigest())
        result = preflight.check_download(access, preflight.Probe(), right)
        assert result.ok, result.line()
        wrong = preflight.check_download(access, preflight.Probe(), preflight.Download("pinned", url, sha256="0" * 64))
        assert wrong.ok is False and "differs from the pinned sha256" in wrong.detail
        gone = preflight.check_download(
            access, preflight.Probe(), preflight.Download("gone", url + ".missing", "1" * 64)
        )
        assert gone.ok is False and "404" in gone.detail
    finally:
        stop = access.step("node1", ["sh", "-c", "kill $(cat /tmp/pf.pid)"])  # the server this test started
        subprocess.run(list(stop.argv), capture_output=True)


def test_failed_up_tears_down_what_it_created(lab, machine_snapshot):
    # A second, independent run that cannot finish (no time to wait for sshd).
    before = machine_snapshot()
    other = LabNodes(Path(tempfile.mkdtemp(prefix="ggn-fail-", dir="/var/tmp")), log=lambda *_: None)
    with pytest.raises(NotReady, match="did not answer in 0 s|could not reach all nodes through node1 in 0 s"):
        other.up(timeout=0)
    assert not other.state_dir.exists()
    assert machine_snapshot() == before


def test_down_leaves_no_trace(lab, before_up, machine_snapshot):
    # Runs last: tears the session's nodes down and compares with the machine before `up`.
    lab.down()
    assert not lab.state_dir.exists()
    after = machine_snapshot()
    for what in before_up:
        assert after[what] == before_up[what], f"{what} differ after down: {after[what] ^ before_up[what]}"
