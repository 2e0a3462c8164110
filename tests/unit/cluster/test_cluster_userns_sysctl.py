"""ansible/tasks/userns_sysctl.yml (pre_k8s) run for real on localhost, with the /proc/sys file, the sysctl.d
file and sysctl(8) replaced by files under tmp_path: Ubuntu 24.04's AppArmor restriction is lifted and
persisted once, a kernel without it (Debian 12, the podman lab nodes) is left alone, a rerun changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gourmetgram.paths import REPO_ROOT

TASKS = REPO_ROOT / "ansible/tasks/userns_sysctl.yml"
PRE_K8S = REPO_ROOT / "ansible/pre_k8s/pre_k8s_configure.yml"
# sysctl -p FILE: record the call and set the fake /proc value from the file, as the kernel would.
SYSCTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_DIR/sysctl.log"
sed -n 's/^kernel.apparmor_restrict_unprivileged_userns = //p' "$2" > "$FAKE_PROC"
"""


def run_tasks(tmp_path: Path, **extra_vars) -> tuple[subprocess.CompletedProcess, int]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "sysctl").write_text(SYSCTL)
    (bindir / "sysctl").chmod(0o755)
    proc, conf = tmp_path / "apparmor_restrict_unprivileged_userns", tmp_path / "99-gourmetgram-userns.conf"
    playbook = [
        {
            "name": "userns",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"gg_userns_proc": str(proc), "gg_userns_sysctl_file": str(conf), **extra_vars},
            "tasks": [{"ansible.builtin.import_tasks": str(TASKS)}],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "STUB_DIR": str(tmp_path),
        "FAKE_PROC": str(proc),
        "ANSIBLE_HOME": str(tmp_path / ".ansible"),
        "ANSIBLE_NOCOLOR": "1",
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "play.yml")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    changed = int(re.search(r"changed=(\d+)", result.stdout).group(1))
    return result, changed


def test_ubuntu_restriction_is_lifted_persisted_and_idempotent(tmp_path):
    (tmp_path / "apparmor_restrict_unprivileged_userns").write_text("1\n")
    _, changed = run_tasks(tmp_path)
    assert changed == 2  # the sysctl.d file written, then applied
    conf = tmp_path / "99-gourmetgram-userns.conf"
    assert conf.read_text() == "kernel.apparmor_restrict_unprivileged_userns = 0\n"
    assert (tmp_path / "sysctl.log").read_text() == f"-p {conf}\n"
    assert (tmp_path / "apparmor_restrict_unprivileged_userns").read_text().strip() == "0"
    _, again = run_tasks(tmp_path)
    assert again == 0
    assert (tmp_path / "sysctl.log").read_text().count("-p") == 1


def test_a_value_reset_at_runtime_is_applied_again(tmp_path):
    (tmp_path / "apparmor_restrict_unprivileged_userns").write_text("1\n")
    run_tasks(tmp_path)
    (tmp_path / "apparmor_restrict_unprivileged_userns").write_text("1\n")  # e.g. an admin's sysctl -w
    _, changed = run_tasks(tmp_path)
    assert changed == 1 and (tmp_path / "sysctl.log").read_text().count("-p") == 2


def test_a_kernel_without_the_restriction_is_left_alone(tmp_path):
    result, changed = run_tasks(tmp_path)  # no /proc/sys file: Debian 12
    assert changed == 0
    assert not (tmp_path / "99-gourmetgram-userns.conf").exists() and not (tmp_path / "sysctl.log").exists()
    assert "skipping" in result.stdout


def test_the_podman_lab_nodes_leave_the_shared_kernel_alone(tmp_path):
    from gourmetgram.nodes.playbooks import NODE_EXTRA_VARS

    (tmp_path / "apparmor_restrict_unprivileged_userns").write_text("1\n")  # e.g. an Ubuntu 24.04 CI host
    _, changed = run_tasks(tmp_path, gg_userns_own_kernel=NODE_EXTRA_VARS["gg_userns_own_kernel"])
    assert changed == 0 and not (tmp_path / "sysctl.log").exists()
    assert not (tmp_path / "99-gourmetgram-userns.conf").exists()


def test_pre_k8s_imports_the_task_file_with_the_real_paths():
    (play,) = yaml.safe_load(PRE_K8S.read_text())
    assert play["vars"]["gg_userns_proc"] == "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    assert play["vars"]["gg_userns_sysctl_file"] == "/etc/sysctl.d/99-gourmetgram-userns.conf"
    # import (static), so the play's `node` tag reaches the tasks (include_tasks would leave them out).
    assert {"ansible.builtin.import_tasks": "../tasks/userns_sysctl.yml"}.items() <= next(
        t for t in play["tasks"] if "userns" in str(t)
    ).items()
