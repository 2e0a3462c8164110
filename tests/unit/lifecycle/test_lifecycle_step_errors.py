"""A lifecycle step turns only project errors (gourmetgram/errors.py) into "step failed":
a bug in a target or the registry keeps its own exception and traceback."""

from __future__ import annotations

import pytest

from gourmetgram import names
from gourmetgram.lifecycle.steps import Lifecycle, StepFailed
from gourmetgram.lifecycle.target import DeployError


class _Registry:
    def is_approved(self, model_version):
        return True

    def set_alias(self, alias, model_version):
        pass


class _Target:
    """Canary serves version 3; copy_tag fails with whatever `error` is."""

    name = "stub"

    def __init__(self, error: BaseException):
        self.error = error

    def deployed_version(self, env):
        return 3

    def copy_tag(self, source_env, target_env, model_version):
        raise self.error

    def url(self, env):
        return "http://127.0.0.1:1"


def _promote(error: BaseException, lines: list[str]) -> None:
    Lifecycle(_Target(error), _Registry(), say=lines.append).promote(names.CANARY, names.PRODUCTION, 3)


def test_a_project_error_is_the_step_failing():
    lines: list[str] = []
    with pytest.raises(StepFailed) as failed:
        _promote(DeployError("registry unreachable"), lines)
    assert failed.value.step == "promote canary->production" and failed.value.reason == "registry unreachable"
    assert "    FAILED: registry unreachable" in lines


@pytest.mark.parametrize("bug", [KeyError("tag"), TypeError("copy_tag() takes 3 arguments"), ValueError("oops")])
def test_a_bug_is_not_reported_as_a_failed_step(bug):
    lines: list[str] = []
    with pytest.raises(type(bug)) as raised:
        _promote(bug, lines)
    assert raised.value is bug  # the original exception, with its traceback, not StepFailed
    assert not any("FAILED" in line for line in lines)
