"""What the cluster tasks import runs on the controller: Python 3.10+, no torch/mlflow/app stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Context, Exit

from gourmetgram.paths import REPO_ROOT as REPO
from gourmetgram.tasks import requires

# Packages only the full install has: loading the task collection must not import them.
LOCAL_ONLY = ("torch", "mlflow", "onnxruntime", "numpy", "flask", "supervisor", "PIL", "boto3", "nox", "train", "app")

_CLOSURE = """
import json, sys
sys.path.insert(0, {repo!r})
import tasks  # the collection `invoke --list` loads
from gourmetgram.controller import install, terraform  # the controller install itself
files = sorted({{m.__file__ for m in list(sys.modules.values())
                if getattr(m, "__file__", None) and m.__file__.startswith({repo!r})
                and "site-packages" not in m.__file__}})
print(json.dumps({{"files": files, "modules": sorted(sys.modules)}}))
"""


@pytest.fixture(scope="module")
def closure() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CLOSURE.format(repo=str(REPO))], capture_output=True, text=True, cwd="/"
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_loading_the_tasks_imports_no_local_platform_package(closure):
    top_level = {m.split(".")[0] for m in closure["modules"]}
    assert not top_level & set(LOCAL_ONLY), sorted(top_level & set(LOCAL_ONLY))
    files = [Path(f).relative_to(REPO).as_posix() for f in closure["files"]]
    assert "gourmetgram/tasks/cluster.py" in files and "gourmetgram/cluster/argo.py" in files


def test_import_closure_runs_on_python_3_10(closure):
    """vermin (a real minimum-version detector) over every repository file the tasks import."""
    vermin = Path(sys.executable).parent / "vermin"
    out = subprocess.run(
        [str(vermin), "--no-tips", "--violations", "-t=3.10-", *closure["files"]], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_vermin_catches_a_3_11_only_feature(tmp_path):
    """The check above can fail: datetime.UTC and tomllib are 3.11-only."""
    bad = tmp_path / "bad.py"
    bad.write_text("from datetime import UTC\nimport tomllib\n")
    vermin = Path(sys.executable).parent / "vermin"
    out = subprocess.run([str(vermin), "--no-tips", "--violations", "-t=3.10-", str(bad)], capture_output=True)
    assert out.returncode != 0


def test_a_missing_module_in_a_local_task_is_one_line(monkeypatch):
    from invoke import task

    @task
    def fake(c, name="x"):
        """A local-platform task."""
        import gourmetgram_module_that_is_not_installed  # noqa: F401

    guarded = requires.needs_full_install(fake, "local.fake")
    try:
        guarded(Context(), name="y")
    except Exit as exc:
        message = str(exc.message)
    else:
        raise AssertionError("no Exit")
    assert "invoke local.fake" in message and "./lab setup" in message
    assert "'gourmetgram_module_that_is_not_installed'" in message
    assert "\n" not in message
    assert [a.name for a in guarded.get_arguments()] == ["name"]  # the wrapped signature is kept
