"""Run ansible-playbook against the lab nodes and read its PLAY RECAP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gourmetgram.errors import BadAnswer, GourmetGramError
from gourmetgram.paths import REPO_ROOT

ANSIBLE_DIR = REPO_ROOT / "ansible"
# The lab's node-level playbooks, in lab order; tag `node` selects the parts
# of post_k8s that need no Kubernetes (cc in group docker, the IPv6 sysctl).
NODE_PLAYBOOKS = (
    "general/hello_host.yml",
    "pre_k8s/pre_k8s_configure.yml",
    "post_k8s/post_k8s_configure.yml",
)
NODE_TAGS = "node"
# The playbooks name interfaces by variable (ens3/ens4 on Chameleon); the lab
# nodes' names differ per node, so they come from host_vars written by lab.py.
NODE_EXTRA_VARS = {
    "gg_public_interface": "{{ gg_node_public_interface }}",
    "gg_private_interface": "{{ gg_node_private_interface }}",
    # The nodes are containers on this machine's kernel: pre_k8s must not change its
    # kernel-wide AppArmor user-namespace setting (ansible/tasks/userns_sysctl.yml).
    "gg_userns_own_kernel": False,
}


def ansible_env(ansible_dir: Path) -> dict[str, str]:
    """Environment for ansible/ansible-playbook with one run's generated files.

    Its own SSH control-socket dir: the sockets are named by user@host:port, and
    every run's nodes share 192.168.1.11-13, so with the default ~/.ansible/cp a
    concurrent run could reuse another run's live connection to another node2."""
    return {
        "ANSIBLE_CONFIG": str(ansible_dir / "ansible.cfg"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(ansible_dir / "cp"),
    }


_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass(frozen=True)
class HostRecap:
    ok: int
    changed: int
    unreachable: int
    failed: int
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


def parse_recap(output: str) -> dict[str, HostRecap]:
    """Per-host counters from the PLAY RECAP block(s) of ansible-playbook output.

    ValueError when there is no recap (the run died before the end)."""
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        raise BadAnswer("no PLAY RECAP in ansible-playbook output")
    recap: dict[str, HostRecap] = {}
    for line in lines[starts[-1] + 1 :]:
        m = _RECAP_LINE.match(line.strip())
        if not m:
            if line.strip():
                continue
            if recap:
                break
            continue
        counts = dict(kv.split("=") for kv in m.group("counts").split())
        fields = {k: int(v) for k, v in counts.items() if k in HostRecap.__dataclass_fields__}
        recap[m.group("host")] = HostRecap(**fields)
    if not recap:
        raise BadAnswer("PLAY RECAP has no host lines")
    return recap


@dataclass(frozen=True)
class PlaybookRun:
    playbook: str
    returncode: int
    output: str
    recap: dict[str, HostRecap]

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.recap.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(r.failed == 0 and r.unreachable == 0 for r in self.recap.values())


def run_playbook(
    ansible_dir: Path,
    playbook: Path,
    extra_vars: dict[str, str] | None = None,
    tags: str | None = None,
    echo: bool = False,
    bin_dir: Path | None = None,
) -> PlaybookRun:
    """ansible-playbook with the generated ansible.cfg + inventory in `ansible_dir`.

    bin_dir: where ansible-playbook is (default: this interpreter's venv); the nodes
    session also runs the controller's Python 3.10 set's ansible-core from its own venv."""
    argv = ["ansible-playbook"]
    argv += ["-i", str(ansible_dir / "inventory.yml"), str(playbook)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if tags:
        argv += ["--tags", tags]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", **ansible_env(ansible_dir))
    env["PATH"] = f"{bin_dir or Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(argv, cwd=ansible_dir, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    if echo:
        print(output)
    try:
        recap = parse_recap(proc.stdout)
    except ValueError:
        recap = {}
    return PlaybookRun(str(playbook), proc.returncode, output, recap)


def apply_node_playbooks(ansible_dir: Path, log=print) -> list[PlaybookRun]:
    """Run every node-level playbook once; stops at the first failure (RuntimeError with its output)."""
    runs = []
    for name in NODE_PLAYBOOKS:
        run = run_playbook(ansible_dir, ANSIBLE_DIR / name, NODE_EXTRA_VARS, tags=NODE_TAGS)
        if not run.ok:
            raise GourmetGramError(f"ansible-playbook {name} failed (rc {run.returncode}):\n{run.output[-4000:]}")
        log(f"playbook {name}: ok, changed={run.changed} on {len(run.recap)} hosts")
        runs.append(run)
    return runs
