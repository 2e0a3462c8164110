"""The Runner really runs steps (and only prints them in dry-run)."""

from __future__ import annotations

import pytest

from gourmetgram.cluster.runner import CommandFailed, Runner, Step, format_elapsed


def test_real_run_captures_output_with_env_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("OS_PASSWORD", "from-the-jupyter-session")
    step = Step(
        argv=("sh", "-c", 'echo "${OS_PASSWORD:-unset} $GG_X $(pwd)"'),
        cwd=tmp_path,
        env={"GG_X": "set"},
        unset_env_prefixes=("OS_",),
        capture=True,
    )
    assert Runner(echo=lambda _l: None).run(step) == f"unset set {tmp_path}\n"


def test_stdin_is_passed():
    step = Step(argv=("cat",), stdin="manifest\n", capture=True)
    assert Runner(echo=lambda _l: None).run(step) == "manifest\n"


def test_failure_and_missing_program_are_clear():
    with pytest.raises(CommandFailed, match="failed with exit code 3") as exc:
        Runner(echo=lambda _l: None).run(Step(argv=("sh", "-c", "exit 3")))
    assert exc.value.returncode == 3
    with pytest.raises(CommandFailed, match="no-such-tool-gg not found"):
        Runner(echo=lambda _l: None).run(Step(argv=("no-such-tool-gg", "x")))


def test_dry_run_prints_and_returns_nothing():
    lines = []
    out = Runner(dry_run=True, echo=lines.append).run(Step(argv=("sh", "-c", "exit 1"), capture=True, title="t"))
    assert out is None
    assert lines == ["# t", "would run: sh -c 'exit 1'"]


def test_format_elapsed():
    assert format_elapsed(59.6) == "1m00s"
    assert format_elapsed(3725) == "1h02m05s"
