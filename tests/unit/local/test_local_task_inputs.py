"""The local tasks parse what the user typed (environment, version) before anything runs:
a wrong word is a usage error (exit 2) naming the choices, and never reaches the lifecycle core."""

from __future__ import annotations

import pytest
from invoke import Context, Exit

from gourmetgram import names
from gourmetgram.tasks import local as local_tasks


@pytest.fixture(autouse=True)
def _no_platform(monkeypatch, tmp_path):
    """A task that got past its input checks would reach the platform: make that loud."""
    monkeypatch.setenv("GG_STATE_DIR", str(tmp_path))

    def reached(*args, **kwargs):
        raise AssertionError("bad input reached the platform")

    monkeypatch.setattr(local_tasks, "_platform", reached)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: local_tasks.rollback(Context(), env="prod"), "unknown environment 'prod'"),
        (lambda: local_tasks.promote_(Context(), from_="canary", to="prod", version="3"), "unknown environment"),
        (lambda: local_tasks.promote_(Context(), from_="canary", to="production", version="1.0.3"), "non-negative"),
        (lambda: local_tasks.canary(Context(), version="x"), "non-negative integer"),
    ],
)
def test_bad_input_is_a_usage_error_before_any_work(call, message):
    with pytest.raises(Exit) as exc:
        call()
    assert exc.value.code == 2
    assert message in str(exc.value.message)
    if "environment" in message:
        assert all(env in str(exc.value.message) for env in names.ENVIRONMENTS)
