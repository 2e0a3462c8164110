"""What the offline controller checks need, fetched once by `./lab setup`.

1. The controller's pinned wheels for each supported Python: the offline tests
   install from these folders with no network, as a lab user would from a wheel folder.
2. The 3.10 set's ansible-core (2.17) in its own venv, run under this Python: the
   nodes session runs the node playbooks with it too, so both pinned versions are tested.

This is the only network use of those checks (PyPI, like the rest of the install).
The main set is downloaded for this interpreter; the 3.10 set for a 3.10 target
(pip --python-version 3.10, wheels only), so a test can resolve that set for 3.10
offline although no 3.10 interpreter is here.
Each folder is named by its pin set's digest and marked complete only after pip ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gourmetgram.controller import install

CACHE = install.REPO_ROOT / ".cache" / "controller-wheels"
ANSIBLE_PY310_VENV = install.REPO_ROOT / ".cache" / "ansible-py310-set"
# The Python versions whose wheel folders the tests use: this interpreter's and 3.10's.
TARGETS = (tuple(sys.version_info[:2]), (3, 10))


def _pip(argv: list[str]) -> None:
    """Run pip; show its errors, not the warnings about find-links folders this machine lacks."""
    proc = subprocess.run(argv, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and "is ignored: it is neither a file nor a directory" not in line:
            print("  " + line, flush=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)


def folder(version: tuple[int, ...]) -> Path:
    """The wheel folder of a pin set (by digest and target Python)."""
    return CACHE / f"py{version[0]}{version[1]}-{install.requirements_digest(version)[:16]}"


def download(version: tuple[int, ...]) -> Path:
    dest = folder(version)
    done = dest / ".complete"
    if done.is_file():
        return dest
    requirements, constraints = install.pin_files(version)
    dest.mkdir(parents=True, exist_ok=True)
    print(f"controller wheels for Python {version[0]}.{version[1]} -> {dest}", flush=True)
    argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:",
            "-d", str(dest), "-r", str(requirements), "-c", str(constraints)]  # fmt: skip
    if tuple(version[:2]) != tuple(sys.version_info[:2]):
        argv += ["--python-version", f"{version[0]}.{version[1]}"]
    _pip(argv)
    done.write_text("ok\n")
    return dest


def ansible_py310_pin() -> str:
    """The ansible-core pin of the 3.10 set (requirements-py310.txt), e.g. 'ansible-core==2.17.14'."""
    lines = install.REQUIREMENTS_PY310.read_text().splitlines()
    return next(line.strip() for line in lines if line.startswith("ansible-core=="))


def ansible_py310_bin() -> Path:
    """The bin folder of the venv with the 3.10 set's ansible-core (ansible-playbook in it)."""
    return ANSIBLE_PY310_VENV / "bin"


def install_ansible_py310() -> Path:
    stamp = ANSIBLE_PY310_VENV / ".installed"
    want = ansible_py310_pin() + "\n" + install.requirements_digest((3, 10))
    if stamp.is_file() and stamp.read_text() == want:
        return ansible_py310_bin()
    print(f"{ansible_py310_pin()} (the Python 3.10 set's) -> {ANSIBLE_PY310_VENV}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(ANSIBLE_PY310_VENV)], check=True)
    pip = [str(ansible_py310_bin() / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _pip([*pip, ansible_py310_pin(), "-c", str(install.CONSTRAINTS_PY310)])
    stamp.write_text(want)
    return ansible_py310_bin()


def main() -> int:
    try:
        for version in dict.fromkeys(TARGETS):
            download(version)
        install_ansible_py310()
    except subprocess.CalledProcessError as exc:
        print(f"error: fetching the controller checks' assets failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
