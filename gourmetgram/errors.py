"""The project's one error root, as click has one exception base carrying its exit code.

Every error the project raises on purpose derives from GourmetGramError; its exit_code is what
the process exits with when it reaches a boundary (the invoke tasks' wrapper in
gourmetgram/tasks/boundary.py, the `python -m gourmetgram.*` entry points), which prints its
message on one line and no traceback. Anything else reaching a boundary is a bug and keeps
its traceback. Subclasses keep the builtin base they had (RuntimeError, ValueError) so
existing `except` clauses still match.
"""

from __future__ import annotations


class GourmetGramError(Exception):
    """A failure the user can act on: its message says what and what to do."""

    exit_code = 1


class UsageError(GourmetGramError, ValueError):
    """Bad input (an unknown environment, a malformed version, a missing setting)."""

    exit_code = 2


class NotReady(GourmetGramError, RuntimeError):
    """Something we started or wait for did not get ready in time."""
