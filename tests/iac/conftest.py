"""Shared fixtures of the offline infrastructure checks: slow tools run once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The check modules live beside this file (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import iac_tools as t  # noqa: E402
import iac_values as v  # noqa: E402


@pytest.fixture(scope="session")
def kube_version() -> str:
    """The Kubernetes version Kubespray installs (from the cluster inventory's group_vars)."""
    return v.kubespray_kube_version()


@pytest.fixture(scope="session")
def schema_version(kube_version: str) -> str:
    """kubernetes-validate has schemas per minor release (X.Y.0)."""
    major, minor, _ = kube_version.split(".")
    return f"{major}.{minor}.0"


@pytest.fixture(scope="session")
def repo_files() -> list[Path]:
    return t.repo_files()


@pytest.fixture(scope="session")
def chart_dirs() -> list[Path]:
    return [c for c in t.charts() if (c / "values.yaml").exists()]


@pytest.fixture(scope="session")
def rendered(chart_dirs) -> dict[str, list[dict]]:
    """Every chart rendered with the values the playbook and deploy workflow pass (schema-validated)."""
    return {c.name: t.render_chart(c, v.deploy_values(c), v.chart_namespace(c)) for c in chart_dirs}


@pytest.fixture(scope="session")
def rendered_defaults(chart_dirs) -> dict[str, list[dict]]:
    """Every chart rendered with its defaults plus only the required externalIP(s) (no image tag)."""
    out = {}
    for c in chart_dirs:
        values = {k: val for k, val in v.deploy_values(c).items() if k != "image"}
        out[c.name] = t.render_chart(c, values, v.chart_namespace(c))
    return out
