"""The small interface between the lifecycle steps and a place that runs the app.

Serving (deploy, url, what is deployed and its history) is what a rollback needs;
Target adds making artifacts (build, copy_tag) for release and promote. The local
platform (gourmetgram/local: bundle directories, gunicorn processes, a Traefik route
swap) is a Target; the cluster (gourmetgram/cluster/target.py: Argo CD syncs) is a
Serving, since its builds and promotions are workflow steps. The steps in
gourmetgram.lifecycle.steps only call these methods, so both follow the same rules.
"""

from __future__ import annotations

from typing import Protocol

from gourmetgram.errors import GourmetGramError
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.rules import Deployment


class DeployError(GourmetGramError):
    """A deploy did not switch in; the environment still serves what it served before."""


class Serving(Protocol):
    name: str

    def deploy(self, env: str, model_version: int) -> None:
        """Serve <env>-1.0.N in env without a gap.

        Raise DeployError if it never gets ready; the old version keeps serving."""

    def url(self, env: str) -> str:
        """Base URL of env's app (what the staging test and people call)."""

    def deployed_version(self, env: str) -> int | None:
        """The model version env serves now (None if nothing is deployed)."""

    def history(self, env: str) -> list[Deployment]:
        """Env's deploy history, oldest first (rollback picks from it)."""


class Target(Serving, Protocol):
    def build(self, model_version: int, registry: Registry) -> str:
        """Make the immutable staging-1.0.N artifact (image or bundle) from the registered model; return its tag."""

    def copy_tag(self, source_env: str, target_env: str, model_version: int) -> str:
        """Make <target_env>-1.0.N the same content as <source_env>-1.0.N (crane copy / bundle copy); return it."""
