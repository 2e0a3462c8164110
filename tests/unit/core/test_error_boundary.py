"""One error root and one boundary (gourmetgram/errors.py, gourmetgram/tasks/boundary.py).

The real invoke CLI (invoke's Program over tasks.py's collection, in this process) is given the
same wrong input for a local and a cluster task: both exit with the same code and the same one
line. The wrapper turns project errors into that line and lets a bug keep its traceback, and
every error class and deliberate raise in gourmetgram/ derives from the one root.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util

import pytest
from invoke import Context, Exit, Program

from gourmetgram import names
from gourmetgram.errors import GourmetGramError, UsageError, run_cli
from gourmetgram.paths import REPO_ROOT
from gourmetgram.tasks.boundary import task

PACKAGE = REPO_ROOT / "gourmetgram"
# Errors of the modules the app image ships (preprocess.py, drift.py), which carries no errors.py:
# the app turns them into HTTP answers or log lines itself.
APP_SIDE = {"ImageError", "ImageTooLargeError", "DriftReferenceError"}


@pytest.fixture(scope="module")
def program() -> Program:
    spec = importlib.util.spec_from_file_location("gg_tasks_under_test", REPO_ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Program(namespace=module.ns, name="invoke", binary="invoke")


def _invoke(program: Program, argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        program.run(["invoke", *argv])
    return exited.value.code, capsys.readouterr().err.strip()


# (local task argv, cluster task argv): the same mistake typed to each.
SAME_MISTAKE = {
    "unknown environment": (["local.rollback", "--env", "prod"], ["rollback", "--env", "prod"]),
    "no such promotion": (
        ["local.promote", "--from", "canary", "--to", "staging", "--version", "3"],
        ["promote", "--from", "canary", "--to", "staging", "--version", "3"],
    ),
    "malformed version": (
        ["local.promote", "--from", "canary", "--to", "production", "--version", "x"],
        ["promote", "--from", "canary", "--to", "production", "--version", "x"],
    ),
}


@pytest.mark.parametrize("mistake", SAME_MISTAKE)
def test_the_same_wrong_input_exits_the_same_way_from_a_local_and_a_cluster_task(
    mistake, program, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("GG_STATE_DIR", str(tmp_path / "state"))  # nothing may be touched: input is checked first
    monkeypatch.setenv("GG_SETTINGS_FILE", str(tmp_path / "no-settings.env"))
    local_argv, cluster_argv = SAME_MISTAKE[mistake]
    local = _invoke(program, local_argv, capsys)
    cluster = _invoke(program, cluster_argv, capsys)
    assert local == cluster
    code, message = local
    assert code == UsageError.exit_code == 2
    assert message.startswith("error: ") and "\n" not in message
    if mistake == "unknown environment":
        assert "'prod'" in message and all(env in message for env in names.ENVIRONMENTS)
    assert not (tmp_path / "state").exists()


def test_a_failure_exits_1_naming_the_task_and_a_bug_keeps_its_traceback():
    @task(prefix="local.")
    def up_(c, what="fail"):
        if what == "fail":
            raise GourmetGramError("port 80 is taken")
        if what == "usage":
            raise UsageError("unknown log 'x'")
        raise KeyError("a bug")

    with pytest.raises(Exit) as failed:
        up_(Context())
    assert (failed.value.code, failed.value.message) == (1, "local.up failed: port 80 is taken")
    with pytest.raises(Exit) as usage:
        up_(Context(), what="usage")
    assert (usage.value.code, usage.value.message) == (2, "error: unknown log 'x'")
    with pytest.raises(KeyError):
        up_(Context(), what="bug")


def test_the_cli_entry_points_exit_with_the_errors_code(capsys):
    assert run_cli(lambda: 0) == 0
    assert run_cli(lambda: (_ for _ in ()).throw(UsageError("bad --version"))) == 2
    assert capsys.readouterr().err == "error: bad --version\n"
    with pytest.raises(ZeroDivisionError):
        run_cli(lambda: 1 / 0)


def _classes_and_raises():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Failed", "Busy")):
                yield "class", path, node
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id in ("ValueError", "RuntimeError", "TimeoutError", "OSError"):
                    yield "raise", path, node


def test_every_project_error_derives_from_the_one_root():
    import gourmetgram.canary.__main__  # noqa: F401 - import every module that defines an error class
    import gourmetgram.controller.install  # noqa: F401
    import gourmetgram.gateway_schemas  # noqa: F401
    import gourmetgram.local.bundles  # noqa: F401
    import gourmetgram.nodes.lab  # noqa: F401

    checked, plain_raises = [], []
    for kind, path, node in _classes_and_raises():
        rel = path.relative_to(REPO_ROOT)
        if kind == "raise":
            # names.py's parsers raise ValueError on purpose: only input boundaries call them (as_usage_error).
            # drift.py ships in the app image (no errors.py there); its ValueError is a caller's bug.
            if rel.as_posix() not in ("gourmetgram/names.py", "gourmetgram/drift.py"):
                plain_raises.append(f"{rel}:{node.lineno}")
            continue
        if node.name in APP_SIDE:
            continue
        module = importlib.import_module(".".join(rel.with_suffix("").parts))
        cls = getattr(module, node.name)
        assert issubclass(cls, GourmetGramError), f"{rel}: {node.name} does not derive from GourmetGramError"
        checked.append(node.name)
    assert not plain_raises, f"raise a gourmetgram.errors class instead of a builtin: {plain_raises}"
    assert {"StepFailed", "DeployError", "PlatformError", "SettingsError", "CommandFailed"} <= set(checked)
