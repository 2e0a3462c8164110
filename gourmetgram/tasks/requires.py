"""Tasks that need the full install say so in one line on the controller install.

The controller install (`./lab setup --controller`) has only the cluster tasks'
packages: a local-platform or lab-nodes task would otherwise end in an
ImportError traceback (supervisor, mlflow's server, torch, ...). Their imports
are lazy (inside the task bodies), so `invoke --list` and the cluster tasks work
without them; this turns the missing module into one line saying what to install.
"""

from __future__ import annotations

import functools

from invoke import Exit, Task

FULL_INSTALL = "the full install (`./lab setup`: Debian packages as root, torch, mlflow, supervisor, ...)"


def needs_full_install(t: Task, label: str) -> Task:
    """Wrap t's body: a missing Python module ends the task with one line and exit code 2."""
    body = t.body

    @functools.wraps(body)  # invoke reads the arguments from the wrapped signature
    def guarded(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except ModuleNotFoundError as exc:
            raise Exit(
                f"invoke {label} runs on this machine and needs {FULL_INSTALL}; "
                f"this Python ({_python()}) lacks the module {exc.name!r}",
                code=2,
            ) from None

    t.body = guarded
    return t


def _python() -> str:
    import sys

    return sys.executable
