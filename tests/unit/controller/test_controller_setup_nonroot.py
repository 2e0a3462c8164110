"""`./lab setup --controller` as the lab runs it: a non-root user, a fresh clone, no network.

A user made for the test gets its own copy of this checkout and runs the
controller setup inside a network namespace with no interfaces but loopback
(so nothing can be fetched), installing from a wheel folder. Then, as that
user, the PATH line it printed makes `invoke --list`, `invoke provision
--dry-run` and `invoke k8s --dry-run` work, and a local-platform task says in
one line what it needs. The wheel folder is filled once per requirements
digest by `./lab setup` (gourmetgram/controller/offline_assets.py, pip download).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gourmetgram.controller import offline_assets
from gourmetgram.paths import REPO_ROOT as REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates a user: needs root (CI and ./lab test run as root)"),
]


@pytest.fixture(scope="module")
def wheels() -> Path:
    """Every pinned controller package as a wheel, downloaded once by `./lab setup` (offline_assets)."""
    folder = offline_assets.folder(sys.version_info[:2])
    if not (folder / ".complete").is_file():
        pytest.fail(f"no controller wheel folder {folder}: run ./lab setup (it downloads them once)")
    return folder


@pytest.fixture(scope="module")
def lab_user(tmp_path_factory):
    """A throwaway non-root user with a home and its own copy of this checkout."""
    name = "ggctl" + secrets.token_hex(3)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    try:
        home = Path(pwd.getpwnam(name).pw_dir)
        clone = home / "gourmetgram-mlops"
        files = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.split("\0")  # fmt: skip
        for rel in filter(None, files):
            src = REPO / rel
            if rel == ".venv" or rel.startswith(".venv/") or not src.is_file():
                continue
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
        subprocess.run(["chown", "-R", f"{name}:{name}", str(home)], check=True)
        yield name, home, clone
    finally:
        subprocess.run(["userdel", "--remove", name], capture_output=True)


def _as_user(user: str, home: Path, cwd: Path, script: str, offline: bool = False) -> subprocess.CompletedProcess:
    env = {
        "HOME": str(home),
        "USER": user,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "GG_SETTINGS_FILE": "settings.env.example",
        "PIP_CONFIG_FILE": "/dev/null",
    }
    argv = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), "bash", "-c", script]
    if offline:
        argv = ["unshare", "--net", *argv]  # only an unconfigured loopback: nothing reachable
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_controller_setup_offline_as_a_non_root_user(lab_user, wheels):
    user, home, clone = lab_user
    # The user's own copy of the wheel folder: wherever this checkout lives (a 0700 temp dir, say),
    # the user can read it, as a lab user reads a folder of wheels in their home.
    wheels = shutil.copytree(wheels, home / "controller-wheels")
    subprocess.run(["chown", "-R", f"{user}:{user}", str(wheels)], check=True)
    who = _as_user(user, home, clone, "id -u; python3 -c 'import sys; print(sys.version_info[:2])'")
    assert who.stdout.split()[0] != "0"

    setup = _as_user(user, home, clone, f"./lab setup --controller --wheels {wheels} --no-terraform", offline=True)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-2000:]
    path_lines = [line for line in setup.stdout.splitlines() if line.startswith("export PATH=")]
    assert path_lines == [f'export PATH="{clone}/.venv-controller/bin:{home}/.local/bin:$PATH"']
    assert "installing the cluster tasks' Python packages offline" in setup.stdout
    venv_python = clone / ".venv-controller" / "bin" / "python"
    assert venv_python.is_file() and venv_python.parent.stat().st_uid == pwd.getpwnam(user).pw_uid

    # No torch, no app stack: only what the cluster tasks need.
    probe = _as_user(user, home, clone, f"{venv_python} -c 'import torch'")
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr

    run = path_lines[0] + " && "
    listed = _as_user(user, home, clone, run + "invoke --list")
    assert listed.returncode == 0, listed.stderr
    for name in ("provision", "k8s", "preflight", "lease", "local.up", "data.food11"):
        assert name in listed.stdout

    provision = _as_user(user, home, clone, run + "invoke provision --dry-run")
    assert provision.returncode == 0, provision.stdout + provision.stderr
    assert "would run: " in provision.stdout and "terraform -chdir=tf/kvm init -input=false" in provision.stdout

    k8s = _as_user(user, home, clone, run + "invoke k8s --dry-run")
    assert k8s.returncode == 0, k8s.stdout + k8s.stderr
    assert "ansible-playbook -i inventory.yml pre_k8s/pre_k8s_configure.yml" in k8s.stdout
    assert "cluster.yml" in k8s.stdout

    # ./lab <task> runs from the controller venv when there is no full install (no root apt step).
    via_lab = _as_user(user, home, clone, "./lab provision --dry-run --no-preflight")
    assert via_lab.returncode == 0, via_lab.stdout + via_lab.stderr
    assert "terraform -chdir=tf/kvm apply -input=false tfplan" in via_lab.stdout

    local = _as_user(user, home, clone, run + "invoke local.status")
    assert local.returncode == 2
    out = (local.stdout + local.stderr).strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert "invoke local.status" in out and "./lab setup" in out

    # A second run finds everything in place, still offline.
    again = _as_user(user, home, clone, f"./lab setup --controller --wheels {wheels} --no-terraform", offline=True)
    assert again.returncode == 0 and "up to date" in again.stdout
