"""`./lab setup --controller`: the cluster tasks' tools, without root, apt or torch.

The lab's controller is a Jupyter server's Bash notebook: a writable home, no
root. This installs, in order:
  1. a venv (default .venv-controller in the checkout) with the cluster tasks'
     pinned Python packages (requirements.txt + controller-constraints.txt here,
     or their -py310 twins on Python 3.10: invoke, ansible-core, the OpenStack
     and Blazar clients, pyyaml, requests, mlflow-skinny); `--wheels DIR`
     installs offline from a wheel folder;
  2. Terraform from HashiCorp's release zip, verified (terraform.py), into a user
     bin folder (default ~/.local/bin);
then prints the one `export PATH=...` line to run. Standard library only and
Python 3.10-compatible, so any lab Python can start it and get a clear answer.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gourmetgram.controller import terraform
from gourmetgram.errors import GourmetGramError
from gourmetgram.paths import REPO_ROOT

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
CONSTRAINTS = HERE / "controller-constraints.txt"
# Python 3.10 gets its own set: ansible-core 2.19 and python-openstackclient 10.1+ need 3.11.
REQUIREMENTS_PY310 = HERE / "requirements-py310.txt"
CONSTRAINTS_PY310 = HERE / "controller-constraints-py310.txt"
DEFAULT_VENV = REPO_ROOT / ".venv-controller"
DEFAULT_BIN_DIR = Path("~/.local/bin")
# The oldest Python a pin set exists for (ansible-core 2.17, the last for 3.10, in requirements-py310.txt).
MIN_PYTHON = (3, 10)
# Modules the cluster tasks import: checked after the install.
CHECK_IMPORTS = ("invoke", "ansible", "yaml", "requests", "openstackclient", "blazarclient", "mlflow.tracking")
SYSTEM_TOOLS = ("ssh", "ssh-add", "curl", "git")


class SetupError(GourmetGramError):
    """A setup step failed; the message says what to do."""


def say(line: str) -> None:
    print(line, flush=True)


def python_supported(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> bool:
    return tuple(version[:2]) >= MIN_PYTHON


def pin_files(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> tuple[Path, Path]:
    """(requirements, constraints) for a Python version: the 3.10 set below 3.11, else the main one."""
    return (REQUIREMENTS_PY310, CONSTRAINTS_PY310) if tuple(version[:2]) < (3, 11) else (REQUIREMENTS, CONSTRAINTS)


def requirements_digest(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> str:
    requirements, constraints = pin_files(version)
    return hashlib.sha256(requirements.read_bytes() + constraints.read_bytes()).hexdigest()


def pip_command(venv: Path, wheels: Path | None) -> list[str]:
    """pip install of the pinned requirements into venv (offline from `wheels` when given)."""
    requirements, constraints = pin_files()
    argv = [
        str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
        "--progress-bar", "off", "-r", str(requirements), "-c", str(constraints),
    ]  # fmt: skip
    if wheels is not None:
        argv += ["--no-index", "--find-links", str(wheels)]
    return argv


def create_venv(venv: Path) -> None:
    if (venv / "bin" / "python").exists():
        return
    say(f"==> creating venv {venv} ({sys.executable}, Python {sys.version.split()[0]})")
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
        raise SetupError(
            f"python -m venv failed ({reason[0]}); this Python has no venv/ensurepip: use another Python "
            "(GG_PYTHON=/path/to/python3.11 ./lab setup --controller)"
        )


def install_packages(venv: Path, wheels: Path | None) -> None:
    """pip install, streaming one line per package (pip's own lines), skipped when nothing changed."""
    stamp = venv / ".controller-installed"
    want = requirements_digest()
    if stamp.is_file() and stamp.read_text().strip() == want:
        say(f"==> Python packages: up to date in {venv}")
        return
    say("==> installing the cluster tasks' Python packages" + (f" offline from {wheels}" if wheels else ""))
    started = time.monotonic()
    env = dict(os.environ, PIP_NO_INPUT="1")
    proc = subprocess.Popen(
        pip_command(venv, wheels), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    tail: list[str] = []
    count = 0
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-15:]
        if line.startswith(("Collecting ", "Processing ")):
            count += 1
            say(f"  [{count:3d}] {line.split()[1]}")
        elif line.startswith(("Successfully installed", "ERROR")):
            say("  " + line[:300])
    if proc.wait() != 0:
        raise SetupError("pip install failed:\n" + "\n".join(tail))
    say(f"  {count} packages in {time.monotonic() - started:.0f}s")
    check = [str(venv / "bin" / "python"), "-c", "import " + ", ".join(CHECK_IMPORTS)]
    proc2 = subprocess.run(check, capture_output=True, text=True)
    if proc2.returncode != 0:
        raise SetupError(f"installed, but the imports fail: {proc2.stderr.strip().splitlines()[-1:]}")
    stamp.write_text(want + "\n")


def path_line(venv: Path, bin_dir: Path) -> str:
    return f'export PATH="{venv / "bin"}:{bin_dir}:$PATH"'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./lab setup --controller",
        description="Install the cluster tasks' tools without root: a venv with the pinned Python packages, "
        "and Terraform (verified) in a user bin folder.",
    )
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get("GG_CONTROLLER_VENV", DEFAULT_VENV)))
    parser.add_argument(
        "--bin-dir", type=Path, default=Path(os.environ.get("GG_CONTROLLER_BIN", DEFAULT_BIN_DIR)).expanduser()
    )
    parser.add_argument("--wheels", type=Path, default=None, help="install offline from this wheel folder")
    parser.add_argument("--no-terraform", action="store_true", help="skip the Terraform download")
    parser.add_argument(
        "--terraform-releases",
        default=os.environ.get("GG_TERRAFORM_RELEASES", terraform.RELEASES_URL),
        help="base URL of the Terraform releases (a mirror; <base>/<version>/terraform_<version>_SHA256SUMS)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    venv, bin_dir = args.venv.expanduser().absolute(), args.bin_dir.expanduser().absolute()
    if not python_supported():
        say(
            f"error: Python {sys.version.split()[0]} is too old for the controller: the oldest ansible-core the "
            "playbooks are tested with (2.17) needs Python >= 3.10; run it with a newer Python: "
            "GG_PYTHON=/path/to/python3.11 ./lab setup --controller"
        )
        return 2
    if args.wheels is not None and not args.wheels.is_dir():
        say(f"error: --wheels {args.wheels}: no such folder")
        return 2
    started = time.monotonic()
    try:
        create_venv(venv)
        install_packages(venv, args.wheels)
        if args.no_terraform:
            say("==> Terraform: skipped (--no-terraform)")
        else:
            say(f"==> Terraform {terraform.TERRAFORM_VERSION} into {bin_dir}")
            terraform.install(bin_dir, base_url=args.terraform_releases, say=say)
    except GourmetGramError as exc:  # SetupError, terraform.TerraformInstallError: one line, their exit code
        say(f"error: {exc}")
        return exc.exit_code
    missing = [t for t in SYSTEM_TOOLS if shutil.which(t) is None]
    if missing:
        say(f"note: {', '.join(missing)} not found on PATH: the cluster tasks run them (ssh to the nodes)")
    say(f"\ncontroller ready in {time.monotonic() - started:.0f}s. Run this once in each new shell (or notebook):")
    say(path_line(venv, bin_dir))
    say("then, from the checkout: invoke --list; invoke preflight")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
