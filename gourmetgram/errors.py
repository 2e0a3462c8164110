"""The project's one error root, as click has one exception base carrying its exit code.

Every error the project raises on purpose derives from GourmetGramError; its exit_code is what
the process exits with when it reaches a boundary (the invoke tasks' wrapper,
gourmetgram/tasks/boundary.py, and the `python -m gourmetgram.*` entry points, `run_cli`
below), which print one line and no traceback. Anything else reaching a boundary is a bug and
keeps its traceback; a lifecycle step likewise turns only these into "step failed".

The base is a RuntimeError and UsageError also a ValueError, so `except RuntimeError` /
`except ValueError` written before the root existed still match.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class GourmetGramError(RuntimeError):
    """A failure the user can act on (exit 1): its message says what and what to do."""

    exit_code = 1

    def headline(self, task: str) -> str:
        """The one line a boundary prints for it (task: the task or command that failed)."""
        return f"{task} failed: {self}"


class UsageError(GourmetGramError, ValueError):
    """Bad input: an unknown environment, a malformed version, a missing setting (exit 2)."""

    exit_code = 2

    def headline(self, task: str) -> str:
        return f"error: {self}"


class BadAnswer(GourmetGramError, ValueError):
    """A tool, file or service answered something we cannot use (kubectl not JSON, a file without
    the expected key); exit 1."""


class NotReady(GourmetGramError):
    """Something we started or wait for did not get ready in time."""


def as_usage_error(fn: Callable, *args, **kwargs):
    """fn(*args) parsing what a user typed: its ValueError becomes a UsageError (exit 2).

    Only input boundaries (tasks, CLIs) call this; names.py's parsers raise plain ValueError."""
    try:
        return fn(*args, **kwargs)
    except GourmetGramError:
        raise
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_cli(body: Callable[[], int | None]) -> int:
    """The exit code of a `python -m gourmetgram.*` command: body()'s, or, for a project error,
    its exit_code after one line `error: <message>` on stderr. Anything else is a bug and keeps its
    traceback. The CLIs' main() return this; their `__main__` passes it to sys.exit."""
    try:
        return body() or 0
    except GourmetGramError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
