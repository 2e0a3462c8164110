"""The small interface between the lifecycle steps and a place that runs the app.

Two implementations: the local platform (gourmetgram/local: bundle directories,
gunicorn processes, a Traefik route swap) and the cluster (image tags in the
cluster registry, Argo CD syncs). The steps in gourmetgram.lifecycle.steps only
call these methods, so both targets follow the same rules.
"""

from __future__ import annotations

from typing import Protocol

from gourmetgram.errors import GourmetGramError
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.rules import Deployment


class DeployError(GourmetGramError):
    """A deploy did not switch in; the environment still serves what it served before."""


class Target(Protocol):
    name: str

    def build(self, model_version: int, registry: Registry) -> str:
        """Make the immutable staging-1.0.N artifact (image or bundle) from the registered model; return its tag."""

    def copy_tag(self, source_env: str, target_env: str, model_version: int) -> str:
        """Make <target_env>-1.0.N the same content as <source_env>-1.0.N (crane copy / bundle copy); return it."""

    def deploy(self, env: str, model_version: int) -> None:
        """Serve <env>-1.0.N in env without a gap.

        Raise DeployError if it never gets ready; the old version keeps serving."""

    def url(self, env: str) -> str:
        """Base URL of env's app (what the staging test and people call)."""

    def deployed_version(self, env: str) -> int | None:
        """The model version env serves now (None if nothing is deployed)."""

    def history(self, env: str) -> list[Deployment]:
        """Env's deploy history, oldest first (rollback picks from it)."""
