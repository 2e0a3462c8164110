"""Run lab commands, or only print them (--dry-run).

A Step is one external command (argv, working directory, environment
changes, optional stdin). Dry-run prints exactly what would run, in a form
you can paste into a shell; a real run streams the command's output, stops
at the first failure with a one-line error, and reports elapsed time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gourmetgram.errors import GourmetGramError
from gourmetgram.paths import REPO_ROOT


class CommandFailed(GourmetGramError):
    """A step exited non-zero or its program is missing (message says which); the task exits
    with the command's own code."""

    def __init__(self, message: str, returncode: int = 1):
        super().__init__(message)
        self.returncode = returncode
        self.exit_code = returncode or 1


@dataclass(frozen=True)
class Step:
    """One command of a lab step."""

    argv: tuple[str, ...]
    cwd: Path = REPO_ROOT
    env: Mapping[str, str] = field(default_factory=dict)
    # Environment variables removed before running (e.g. the OS_* of a Chameleon
    # Jupyter session would override clouds.yaml).
    unset_env_prefixes: tuple[str, ...] = ()
    stdin: str | None = None
    # True: the caller needs the output (printed after the command in dry-run as "<output>").
    capture: bool = False
    title: str = ""

    def render(self) -> str:
        """A shell line equivalent to this step (relative to the repository root)."""
        parts = []
        rel = _rel(self.cwd)
        if rel != ".":
            parts.append(f"cd {shlex.quote(rel)} &&")
        for prefix in self.unset_env_prefixes:
            parts.append(f"unset $(compgen -e | grep '^{prefix}') ;")
        parts += [f"{k}={shlex.quote(v)}" for k, v in self.env.items()]
        parts.append(shlex.join(self.argv))
        line = " ".join(parts)
        if rel != ".":
            line = f"({line})"
        if self.stdin is not None:
            line += " <<'EOF'\n" + self.stdin.rstrip("\n") + "\nEOF"
        return line

    def process_env(self) -> dict[str, str]:
        """The environment the command runs with: ours, less unset_env_prefixes, plus env."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(self.unset_env_prefixes or ("\0",))}
        env.update(self.env)
        return env


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT)) or "."
    except ValueError:
        return str(path)


def format_elapsed(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Runner:
    """Runs steps (or prints them when dry_run). `echo` receives every line it prints."""

    def __init__(self, dry_run: bool = False, echo: Callable[[str], None] | None = None):
        self.dry_run = dry_run
        self.echo = echo or (lambda line: print(line, flush=True))
        self.executed: list[Step] = []

    def say(self, line: str) -> None:
        self.echo(line)

    def run(self, step: Step) -> str | None:
        """Run one step; its stdout if step.capture (None in dry-run)."""
        self.executed.append(step)
        if step.title:
            self.echo(f"# {step.title}")
        self.echo(("$ " if not self.dry_run else "would run: ") + step.render())
        if self.dry_run:
            return None
        program = step.argv[0]
        if shutil.which(program, path=_path_with(step.env)) is None and not Path(program).is_file():
            raise CommandFailed(f"{program} not found: install it first (see the README's lab runbook)", 127)
        started = time.monotonic()
        proc = subprocess.run(
            list(step.argv),
            cwd=step.cwd,
            env=step.process_env(),
            input=step.stdin,
            text=True,
            stdout=subprocess.PIPE if step.capture else None,
        )
        if proc.returncode != 0:
            raise CommandFailed(
                f"{shlex.join(step.argv[:3])}... failed with exit code {proc.returncode} "
                f"after {format_elapsed(time.monotonic() - started)}",
                proc.returncode,
            )
        if step.capture:
            sys.stdout.flush()
            return proc.stdout
        return None


def _path_with(env: Mapping[str, str]) -> str:
    return env.get("PATH", os.environ.get("PATH", ""))
