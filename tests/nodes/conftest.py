"""The `nox -s nodes` flow: three fresh lab nodes for the whole session, torn down at the end.

Needs root, podman, runc and debootstrap (./lab setup installs them). The
root filesystem tarball is cached (gourmetgram.nodes.image), so only the first
run on a machine pays for debootstrap.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from gourmetgram.controller import offline_assets
from gourmetgram.nodes import checks, playbooks
from gourmetgram.nodes.lab import LabNodes, prepare_host


def _machine_snapshot() -> dict[str, set[str]]:
    """What a run could leave behind on the host: links, mounts, firewall rules, podman/CNI dirs."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    global_dirs = ("/var/lib/containers", "/run/containers", "/run/libpod", "/var/lib/cni", "/dev/shm/libpod_lock")
    return {
        "links": {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()},
        "mounts": {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()},
        "iptables": {r for r in rules.splitlines() if r and not r.startswith("#")},
        "global podman state": {d for d in global_dirs if Path(d).exists()},
    }


@pytest.fixture(scope="session")
def machine_snapshot():
    return _machine_snapshot


@pytest.fixture(scope="session")
def before_up() -> dict[str, set[str]]:
    # The one-time host setup that podman's first network namespace does (a shared
    # /run/netns mount, kept for every later user) is done first, as `up` does it:
    # on a brand-new machine it is not a trace of this run. Everything else must be
    # exactly as before once `down` ran.
    prepare_host()
    return _machine_snapshot()


@pytest.fixture(scope="session")
def lab(before_up) -> LabNodes:
    # A short path: podman's sockets under it must fit in 108 bytes.
    lab = LabNodes(Path(tempfile.mkdtemp(prefix="ggn-", dir="/var/tmp")))
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def record(lab):
    return lab.record()


@pytest.fixture(scope="session")
def playbook_passes(record) -> list[list[playbooks.PlaybookRun]]:
    """Every node playbook run twice, in lab order (the second pass must change nothing)."""
    ansible_dir = Path(record.ansible_dir)
    passes = []
    for _ in range(2):
        runs = []
        for name in playbooks.NODE_PLAYBOOKS:
            runs.append(
                playbooks.run_playbook(
                    ansible_dir, playbooks.ANSIBLE_DIR / name, playbooks.NODE_EXTRA_VARS, tags=playbooks.NODE_TAGS
                )
            )
        passes.append(runs)
    return passes


@pytest.fixture(scope="session")
def py310_set_pass(record, playbook_passes) -> list[playbooks.PlaybookRun]:
    """Every node playbook once more, with the ansible-core of the controller's Python 3.10 set (2.17)."""
    bin_dir = offline_assets.ansible_py310_bin()
    if not (bin_dir / "ansible-playbook").is_file():
        pytest.fail(f"no {bin_dir}/ansible-playbook: run ./lab setup (it installs the 3.10 set's ansible-core)")
    ansible_dir = Path(record.ansible_dir)
    return [
        playbooks.run_playbook(
            ansible_dir, playbooks.ANSIBLE_DIR / name, playbooks.NODE_EXTRA_VARS, tags=playbooks.NODE_TAGS,
            bin_dir=bin_dir,
        )
        for name in playbooks.NODE_PLAYBOOKS
    ]  # fmt: skip


@pytest.fixture(scope="session")
def hosts(record, playbook_passes) -> dict:
    """testinfra hosts over the generated ansible files, after the playbooks ran."""
    return checks.testinfra_hosts(Path(record.ansible_dir), tuple(record.nodes))
