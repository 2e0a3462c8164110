"""The local e2e tests' platform fixtures (a real platform on free loopback ports, one per module)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# tests/e2e has no packages: load the local suite's conftest by path, so both suites share one
# definition of how a test platform is made and torn down.
_spec = importlib.util.spec_from_file_location(
    "gg_e2e_local_conftest", Path(__file__).resolve().parent.parent / "local" / "conftest.py"
)
_local = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_local)

platform_factory = _local.platform_factory
platform = _local.platform
