"""How the default run is split over pytest-xdist workers (`nox -s tests`: `-n N --dist loadgroup`).

A worker takes one *unit* at a time and runs its tests in collection order:

- by default a test module is one unit: module-scoped fixtures (a local platform, a browser) are
  made once, and tests that build on each other in a file (tests/e2e/local) keep their order;
- modules that use one of the expensive session fixtures in SHARED_SESSION_FIXTURES (servers, a
  trained model, the slow linters) join that fixture's group (an `xdist_group` mark), so it is
  made once per run, not once per worker. A module that uses two of them merges their groups.

Units are handed out in collection order (--no-loadscope-reorder), so the noxfile lists the
directories with the longest units first. Without xdist (`pytest` alone, or -n 0) nothing changes.
"""

from __future__ import annotations

import pytest

# Session fixtures that start servers, train a model or run a slow tool: every module that
# uses one (directly or through another fixture) runs on the same worker.
SHARED_SESSION_FIXTURES = {
    "mlflow_server": "e2e-flow-mlflow",  # tests/e2e/flow: one MLflow server, the CI model trained once
    "app_server": "e2e-app-gunicorn",  # tests/e2e/app: one gunicorn app
    "platform_harness": "faults-platform",  # tests/faults: one local platform
    "lint_report": "iac-slow-linters",  # tests/iac: ansible-lint, started in the background
    "checkov_results": "iac-slow-linters",  # tests/iac: checkov, started in the background
}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def module_groups(items) -> dict[str, str]:
    """module path -> its shared group, for the modules that use a shared session fixture."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for item in items:
        for name in item.fixturenames:
            if name in SHARED_SESSION_FIXTURES:
                a, b = find(_module(item.nodeid)), find("@" + SHARED_SESSION_FIXTURES[name])
                if a != b:
                    parent[a] = b
    return {m: find(m)[1:] for m in parent if not m.startswith("@")}


# tryfirst: xdist's worker reads the xdist_group marks in its own collection hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    groups = module_groups(items)
    for item in items:
        group = groups.get(_module(item.nodeid))
        if group and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_xdist_make_scheduler(config, log):
    """loadgroup, with a module as the unit of a test that has no group (xdist's own: the test)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleOrGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return _module(nodeid) if scope == nodeid else scope

    return ModuleOrGroupScheduling(config, log)
