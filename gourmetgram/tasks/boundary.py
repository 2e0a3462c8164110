"""The one place where the invoke tasks turn project errors into exit codes.

Every task module declares its tasks with this `task` instead of invoke's: the body runs
unchanged, and a GourmetGramError (gourmetgram/errors.py) that leaves it ends the task with
invoke's Exit: the error's one-line headline and its exit_code (usage errors 2, failures 1).
Any other exception is a bug and keeps its traceback. So the same wrong input exits the same
way from a local and a cluster task (tests/unit/core/test_error_boundary.py).
"""

from __future__ import annotations

import functools

import invoke
from invoke import Exit

from gourmetgram.errors import GourmetGramError


def guarded(body, label: str):
    """body, with project errors ending it as Exit(headline, code=exit_code)."""

    @functools.wraps(body)  # invoke reads the task's arguments from the wrapped signature
    def run(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except GourmetGramError as exc:
            raise Exit(exc.headline(label), code=exc.exit_code) from None

    return run


def task(*args, prefix: str = "", **kwargs):
    """invoke.task, with the body behind the boundary; `prefix` names the collection in messages
    (e.g. "local." -> "local.up failed: ..."). Used bare (@task) or with invoke's options."""

    def decorate(body):
        name = kwargs.get("name") or body.__name__.rstrip("_").replace("_", "-")
        return invoke.task(guarded(body, prefix + name), **kwargs)

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    if args:
        raise TypeError("boundary.task takes invoke's options as keywords only")
    return decorate
