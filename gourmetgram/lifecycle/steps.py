"""The lifecycle after training, step by step, over any Target.

    alias development -> build staging-1.0.N -> alias staging -> deploy staging
      -> test staging -> alias staging-approved -> promote to canary

in the order gourmetgram/lifecycle/order.py declares (release() loops over it),
plus promote (canary -> production) and rollback. Each step prints what it
does and how long it took; a failure raises StepFailed naming the step. Steps
only move an alias after the thing it stands for is done (built, deployed,
tested), and a failed deploy leaves the environment on its old version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gourmetgram import names
from gourmetgram.errors import GourmetGramError
from gourmetgram.lifecycle import order, rules
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.staging import DEFAULT_TIMEOUT, run_staging_test
from gourmetgram.lifecycle.target import Target


@dataclass
class _Release:
    """What one release's stages hand on: staging's version before the deploy and why the deploy failed."""

    previous: int | None = None
    deploy_problem: str = ""


class StepFailed(GourmetGramError):
    def __init__(self, step: str, reason: str):
        super().__init__(f"step '{step}' failed: {reason}")
        self.step = step
        self.reason = reason

    def headline(self, task: str) -> str:
        return f"{task} FAILED at step '{self.step}': {self.reason}"


@dataclass
class Lifecycle:
    target: Target  # rollback() needs only a lifecycle.target.Serving (the cluster's)
    registry: Registry
    say: Callable[[str], None] = print
    staging_timeout: float = DEFAULT_TIMEOUT
    timings: list[tuple[str, float]] = field(default_factory=list)
    version: int | None = None  # the version this run works on (set by release/promote or the caller)
    canary_report: dict | None = None  # the canary analysis' report, when one ran
    _release: _Release = field(default_factory=_Release, repr=False, init=False)

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        self.say(f"==> {name}: {what}")
        start = time.monotonic()
        try:
            yield
        except StepFailed:
            raise
        except GourmetGramError as exc:  # only project errors: anything else is a bug, with its traceback
            self.timings.append((name, time.monotonic() - start))
            self.say(f"    FAILED: {exc}")
            raise StepFailed(name, str(exc)) from exc
        took = time.monotonic() - start
        self.timings.append((name, took))
        self.say(f"    ok ({took:.1f}s)")

    # -- after training ---------------------------------------------------------------------
    def release(self, model_version: int) -> None:
        """A freshly registered version: development -> staging -> tested -> canary (order.RELEASE)."""
        self.version = model_version
        self._release = _Release()
        for stage in order.RELEASE:
            getattr(self, f"_{stage.key}")(model_version)

    def _build(self, n: int) -> None:
        with self.step("alias development", f"{names.ALIAS_DEVELOPMENT} -> version {n}"):
            self.registry.set_alias(names.ALIAS_DEVELOPMENT, n)
        with self.step("build", f"bundle {names.image_tag(names.STAGING, n)} from the registered model"):
            tag = self.target.build(n, self.registry)
            self.say(f"    built {tag}")
        with self.step(order.alias_step(names.STAGING), f"{names.ALIAS_STAGING} -> version {n}"):
            self.registry.set_alias(names.ALIAS_STAGING, n)

    def _deploy_staging(self, n: int) -> None:
        self._release.previous = self.target.deployed_version(names.STAGING)
        try:
            what = f"{names.image_tag(names.STAGING, n)} to {self.target.url(names.STAGING)}"
            with self.step(order.deploy_step(names.STAGING), what):
                self.target.deploy(names.STAGING, n)
        except StepFailed as exc:
            # As on the cluster: a deploy that never gets ready is caught by the staging test,
            # which then sees the old version. We check once instead of waiting out the timeout.
            self._release.deploy_problem = exc.reason

    def _test_staging(self, n: int) -> None:
        deploy_problem, previous = self._release.deploy_problem, self._release.previous
        url = self.target.url(names.STAGING)
        v = names.version_string(n)
        try:
            with self.step("test staging", f"{url}/version is {v} and {url}/test answers a class"):
                result = run_staging_test(url, n, timeout=0 if deploy_problem else self.staging_timeout)
                if not result.passed:
                    reason = result.reason + (f" (deploy staging: {deploy_problem})" if deploy_problem else "")
                    raise rules.RuleError(reason)
                self.say(f"    {result.reason}")
        except StepFailed as failed:
            if not deploy_problem and previous is not None and previous != n:
                # The version got ready but failed its test: staging goes back to what it served.
                what = f"{names.image_tag(names.STAGING, previous)} back to {url}"
                try:
                    with self.step("restore staging", what):
                        self.target.deploy(names.STAGING, previous)
                except StepFailed as restore:
                    reason = f"{failed.reason}; restoring staging failed too: {restore.reason}"
                    raise StepFailed(failed.step, reason) from restore
            raise
        with self.step("approve", f"{names.ALIAS_STAGING_APPROVED} -> version {n} (+ approval tag)"):
            self.registry.approve(n, url=url)

    def _promote_canary(self, n: int) -> None:
        self.promote(names.STAGING, names.CANARY, n)

    # -- promotion and rollback -------------------------------------------------------------
    def promote(self, source: str, target: str, model_version: int) -> None:
        """The one promotion path of both targets: rules.promotion_refusal decides, then copy, deploy, alias."""
        n = model_version
        with self.step(order.promote_step(source, target), f"check version {n} may go from {source} to {target}"):
            refusal = rules.promotion_refusal(
                source, target, n, self.registry.is_approved(n), self.target.deployed_version(source)
            )
            if refusal:
                raise rules.RuleError(refusal)
            tag = self.target.copy_tag(source, target, n)
            self.say(f"    copied {names.image_tag(source, n)} -> {tag}")
        with self.step(order.deploy_step(target), f"{names.image_tag(target, n)} to {self.target.url(target)}"):
            self.target.deploy(target, n)
        alias = names.env_alias(target)
        with self.step(order.alias_step(target), f"{alias} -> version {n}"):
            self.registry.set_alias(alias, n)

    def rollback(self, env: str) -> int:
        """Put env's previous known-good version back; returns it. env is checked (names.check_env) by the caller."""
        with self.step(f"rollback {env}", "choose the previous known-good version"):
            current = self.target.deployed_version(env)
            chosen = rules.choose_rollback(self.target.history(env), current, self.registry.is_approved)
            self.say(f"    {env}: {_v(current)} -> {names.version_string(chosen.version)}")
        with self.step(order.deploy_step(env), f"{names.image_tag(env, chosen.version)} to {self.target.url(env)}"):
            self.target.deploy(env, chosen.version)
        alias = names.env_alias(env)
        with self.step(order.alias_step(env), f"{alias} -> version {chosen.version}"):
            self.registry.set_alias(alias, chosen.version)
        return chosen.version


def _v(n: int | None) -> str:
    return "nothing" if n is None else names.version_string(n)
