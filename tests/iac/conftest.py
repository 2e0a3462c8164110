"""Shared fixtures of the offline infrastructure checks.

The two slowest tools (ansible-lint, checkov) start in the background as soon as
collection shows that a selected test needs them (under xdist: when the worker that runs
those tests starts the first of their modules), and run while the other checks do;
each runs once per session and the tests assert per file on the parsed output.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

# The check modules live beside this file (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import iac_tools as t  # noqa: E402
import iac_values as v  # noqa: E402

_POOL: ThreadPoolExecutor | None = None
_BACKGROUND: dict[str, Future] = {}


def _checkov_on_rendered_charts() -> dict:
    with tempfile.TemporaryDirectory(prefix="gg-iac-rendered-") as tmp:
        return v.checkov_repo(v.write_rendered(Path(tmp)))


def _slow_jobs() -> dict:
    return {
        "lint_report": lambda: t.ansible_lint([t.REPO / "ansible"]),
        "checkov_results": _checkov_on_rendered_charts,
    }


# Under pytest-xdist every worker collects every test but runs only its share: a worker starts the
# jobs when it runs its first test of a module that needs them (tests/conftest.py keeps those
# modules on one worker), so the tools run once per session, not once per worker.
_DEFERRED: dict[str, object] = {}
_DEFERRED_MODULES: set[str] = set()


def _start(jobs: dict) -> None:
    global _POOL
    if jobs:
        _POOL = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="iac")
        _BACKGROUND.update({name: _POOL.submit(job) for name, job in jobs.items()})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    wanted = {name for item in items for name in getattr(item, "fixturenames", ())}
    jobs = {name: job for name, job in _slow_jobs().items() if name in wanted}
    if not hasattr(config, "workerinput"):
        _start(jobs)
        return
    _DEFERRED.update(jobs)
    _DEFERRED_MODULES.update(
        item.nodeid.split("::", 1)[0] for item in items if jobs.keys() & set(getattr(item, "fixturenames", ()))
    )


def pytest_runtest_setup(item):
    if _DEFERRED and item.nodeid.split("::", 1)[0] in _DEFERRED_MODULES:
        jobs = dict(_DEFERRED)
        _DEFERRED.clear()
        _start(jobs)


def pytest_sessionfinish(session, exitstatus):
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)


def _result(name: str):
    future = _BACKGROUND.get(name)
    return future.result() if future is not None else _slow_jobs()[name]()


@pytest.fixture(scope="session")
def lint_report() -> list[dict]:
    """ansible-lint --offline (production profile) over ansible/, parsed (codeclimate JSON)."""
    return _result("lint_report")


@pytest.fixture(scope="session")
def checkov_results() -> dict:
    """checkov over terraform, the rendered charts, the workflows and every file (secrets)."""
    return _result("checkov_results")


@pytest.fixture(scope="session")
def kube_version() -> str:
    """The Kubernetes version Kubespray installs (kube_version in ansible/vars/versions.yml)."""
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
    return v.app_and_platform_charts()


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


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory) -> Path:
    """Every chart rendered (the lab's values) into files: what yamllint sees."""
    return v.write_rendered(tmp_path_factory.mktemp("rendered"))
