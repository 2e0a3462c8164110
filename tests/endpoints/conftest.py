"""`nox -s integration`: one suite, two targets, chosen by GG_TARGET.

GG_TARGET=local (default, CI): the lab nodes (podman, configured by the node
playbooks) and the local platform. A running platform in GG_STATE_DIR (or
.state/local) with all three environments deployed is checked as it is;
otherwise a fresh one is started on free loopback ports in a temporary state
dir, the lifecycle runs once (train -> staging -> canary -> production) and
everything is stopped and removed at the end. Lab nodes already up in
GG_NODES_DIR (`invoke nodes.up`) are reused; otherwise fresh ones are made.

GG_TARGET=cluster: the lab's cluster, as `invoke provision` left it: nodes
through the generated ansible/ansible.cfg + inventory.yml (SSH through the
floating IP), endpoints at the floating IP on the ports of the Helm values.
Tests marked `cluster` (Kubernetes) run only there; the integration session
deselects them for the local target (pytest -m "not cluster").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gourmetgram import names, values
from gourmetgram.nodes import checks

TARGETS = ("local", "cluster")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


@dataclass(frozen=True)
class Endpoints:
    mlflow: str
    envs: dict[str, str]  # environment -> base URL
    gateway: str


@dataclass(frozen=True)
class Nodes:
    hosts: dict  # node name -> testinfra host
    public_interface: dict[str, str]  # node name -> interface the IPv6 sysctl play targets


@pytest.fixture(scope="session")
def target() -> str:
    value = os.environ.get("GG_TARGET", "local")
    if value not in TARGETS:
        raise pytest.UsageError(f"GG_TARGET must be one of {', '.join(TARGETS)}, got {value!r}")
    return value


# -- nodes ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def nodes(target) -> Nodes:
    if target == "cluster":
        yield _cluster_nodes()
        return
    from gourmetgram.nodes.lab import LabNodes, public_interface
    from gourmetgram.nodes.playbooks import apply_node_playbooks

    running = LabNodes()
    fresh = None
    if running.record() is None:
        fresh = LabNodes(Path(tempfile.mkdtemp(prefix="ggn-it-", dir="/var/tmp")))
    lab = fresh or running
    try:
        if fresh:
            rec = fresh.up()
            apply_node_playbooks(Path(rec.ansible_dir))
        rec = lab.record()
        hosts = checks.testinfra_hosts(Path(rec.ansible_dir), tuple(rec.nodes))
        yield Nodes(hosts, {n: public_interface(rec, n) for n in rec.nodes})
    finally:
        if fresh:
            fresh.down()


def _cluster_nodes() -> Nodes:
    from gourmetgram.cluster.inventory import ANSIBLE_DIR, INVENTORY_NAME

    inventory = ANSIBLE_DIR / INVENTORY_NAME
    if not inventory.is_file():
        raise pytest.UsageError(f"{inventory} missing: run `invoke provision` first (it writes the inventory)")
    hosts = tuple(yaml.safe_load(inventory.read_text())["all"]["hosts"])
    cluster_vars = yaml.safe_load((ANSIBLE_DIR / "vars" / "cluster.yml").read_text())
    return Nodes(
        checks.testinfra_hosts(ANSIBLE_DIR, hosts),
        {h: cluster_vars["gg_public_interface"] for h in hosts},
    )


# -- endpoints --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def endpoints(target) -> Endpoints:
    if target == "cluster":
        from gourmetgram.cluster.settings import load_settings

        ip = load_settings().require("floating_ip").floating_ip
        yield Endpoints(
            mlflow=f"http://{ip}:{values.mlflow_port()}",
            envs={env: f"http://{ip}:{values.env_port(env)}" for env in names.ENVIRONMENTS},
            gateway=f"http://{ip}:{values.gateway_port()}",
        )
        return
    platform, started = _local_platform()
    try:
        yield Endpoints(
            mlflow=platform.mlflow_url,
            envs={env: platform.url(env) for env in names.ENVIRONMENTS},
            gateway=platform.gateway_url,
        )
    finally:
        if started:
            from gourmetgram.local import operations

            try:
                operations.down(platform)
            finally:
                shutil.rmtree(platform.state.root, ignore_errors=True)


def _local_platform():
    """(platform, started_here): the user's running platform if it serves every environment, else a fresh one."""
    from gourmetgram.local import operations
    from gourmetgram.local.platform import LocalPlatform
    from gourmetgram.local.state import Ports
    from gourmetgram.proc_helpers import free_port

    existing = LocalPlatform(say=lambda *_: None)
    if existing.state.settings() is not None and existing.supervisor.running():
        if all(existing.target.deployed_version(env) is not None for env in names.ENVIRONMENTS):
            print(f"integration: checking the running local platform in {existing.state.root}")
            return existing, False
    root = Path(tempfile.mkdtemp(prefix="gg-local-it-"))
    root.chmod(0o755)
    platform = LocalPlatform(root, say=print)
    try:
        # The same library calls as `invoke local.up` and `invoke local.train`, on free ports.
        operations.up(platform, ports=Ports.pick(free_port))
        lc = operations.train(platform)
        operations.promote(platform, names.CANARY, names.PRODUCTION, lc.version)
    except BaseException:
        try:
            operations.down(platform)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return platform, True
