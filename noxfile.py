"""Checks, from fast to real. Run them through ./lab test (installs first), or
`nox -s <session>` inside the project's .venv.

Sessions run in the project's own .venv (venv_backend="none"): the pinned
dependencies are installed once by ./lab, not again per session.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True

# Sessions have no venv of their own: make the tools of the interpreter running
# nox (the project's .venv) win, even when nox is called by path (.venv/bin/nox).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _pytest(session: nox.Session, *args: str) -> None:
    no_telemetry = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    # --durations: the slowest tests at the end of every run, to keep the default run under 20 minutes.
    session.run("python", "-m", "pytest", "--durations=10", *args, *session.posargs, env=no_telemetry)


def _workers() -> str:
    """pytest-xdist workers for the tests session: GG_TEST_WORKERS, default 3 (0 = no xdist, one process)."""
    value = os.environ.get("GG_TEST_WORKERS", "3")
    if not value.isdigit():
        raise SystemExit(f"GG_TEST_WORKERS={value!r}: expected a number of workers (0 = run in one process)")
    return value


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, then the infrastructure linters: terraform fmt, yamllint, ansible-lint, hadolint, checkov."""
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Offline, with the configs at the repository root; tests/iac runs the same tools per file, and more.
    session.run("terraform", "fmt", "-check", "-recursive", "-diff", "tf", external=True)
    session.run("yamllint", "-c", ".yamllint", ".")
    ansible_env = {"ANSIBLE_HOME": "/tmp/.ansible-iac"}
    session.run("ansible-lint", "--offline", "-c", ".ansible-lint", "ansible", env=ansible_env)
    session.run("python", "tests/iac/lint_cli.py", "hadolint")
    # checkov lives in its own venv (.cache/checkov-venv), created on first use from tests/iac/checkov-requirements.txt.
    session.run("python", "tests/iac/lint_cli.py", "checkov")


@nox.session
def tests(session: nox.Session) -> None:
    """Default run: ruff, unit, offline infrastructure checks, the local end-to-end lifecycle, faults."""
    # ruff here too, so the default run covers the code style; tests/iac runs every infrastructure
    # linter of the lint session per file (and more), so they are not run twice.
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Most of the slow tests wait on servers (MLflow, gunicorn, Traefik, Prometheus) or on canary
    # intervals: xdist workers overlap those waits. A worker takes a whole module (or a group of
    # modules sharing a session fixture, tests/conftest.py) in file order; units are handed out in
    # the order given here, the longest (e2e, faults) first, so the short unit modules fill the end.
    xdist = ["-n", _workers(), "--dist", "loadgroup", "--no-loadscope-reorder"] if _workers() != "0" else []
    _pytest(session, *xdist, "tests/e2e", "tests/faults", "tests/iac", "tests/unit")


@nox.session
def nodes(session: nox.Session) -> None:
    """Three real systemd nodes (podman): playbooks over SSH twice, testinfra, teardown."""
    _pytest(session, "tests/nodes")


@nox.session
def integration(session: nox.Session) -> None:
    """Node (testinfra) and endpoint (pytest) checks against a live deployment (GG_TARGET=local|cluster)."""
    # Kubernetes checks need the cluster: deselected (and counted so) for the local target.
    target = os.environ.get("GG_TARGET", "local")
    _pytest(session, "tests/endpoints", *(["-m", "not cluster"] if target != "cluster" else []))


@nox.session
def bench(session: nox.Session) -> None:
    """Serving and lifecycle benchmarks; writes bench/results.json, a table and charts."""
    session.run("python", "-m", "bench")
