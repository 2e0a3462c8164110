"""The lifecycle's rules as pure functions (no MLflow, no network, no processes).

Both targets (cluster and local) decide with these functions, so the same
version answers, approvals, promotions and rollbacks are accepted or refused
in the same words everywhere. tests/unit/lifecycle checks each rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gourmetgram import names
from gourmetgram.errors import GourmetGramError

# Model-version tags written when a version passes the staging test. The alias
# staging-approved moves on to the newest approved version; the tag stays, so
# older versions remain known-good for promotions and rollbacks.
APPROVAL_TAG = "staging_approved"
APPROVAL_TAG_VALUE = "true"
APPROVAL_TIME_TAG = "staging_approved_at"
APPROVAL_URL_TAG = "staging_approved_url"


class RuleError(GourmetGramError, ValueError):
    """A lifecycle rule refused the request; the message says which rule and why."""


def check_version_answer(body: str, model_version: int | str) -> str | None:
    """None if a /version body reports 1.0.N, else the reason it does not."""
    expected = names.version_string(model_version)
    try:
        payload = json.loads(body)
    except ValueError:
        return f"/version did not answer JSON: {body[:200]!r}"
    if not isinstance(payload, dict) or "model_version" not in payload:
        return f"/version answered {body[:200]!r}, without a model_version field"
    got = str(payload["model_version"])
    if got != expected:
        return f"/version reports {got}, expected {expected}"
    return None


def check_class_answer(body: str) -> str | None:
    """None if a /test body is exactly one of the 11 class names, else the reason."""
    answer = body.strip()
    if answer in names.CLASSES:
        return None
    return f"/test answered {answer[:200]!r}, which is not one of the {len(names.CLASSES)} classes"


def is_approved(tags: dict[str, str], aliases: Iterable[str] = ()) -> bool:
    """A version is known-good once it passed staging: approval tag, or the staging-approved alias."""
    return tags.get(APPROVAL_TAG) == APPROVAL_TAG_VALUE or names.ALIAS_STAGING_APPROVED in set(aliases)


def promotion_refusal(
    source: str,
    target: str,
    model_version: int | str,
    approved: bool,
    source_version: int | None,
) -> str | None:
    """None if `model_version` may go from `source` to `target`, else the reason it may not.

    Rules: the promotion path must be allowed (staging -> canary -> production),
    the version must have passed the staging test, and the source environment
    must be serving exactly that version (we promote what was observed, never
    a version that is only in the registry).
    """
    try:
        names.check_promotion(source, target)
        n = names.version_number(model_version)
    except ValueError as exc:
        return str(exc)
    if not approved:
        return (
            f"version {n} is not {names.ALIAS_STAGING_APPROVED}: it never passed the staging test, "
            f"so it cannot go to {target}"
        )
    if source_version is None:
        return f"{source} serves no version, so version {n} is not in {source}"
    if source_version != n:
        return (
            f"version {n} is not in {source}: {source} serves "
            f"{names.version_string(source_version)}; promote that one, or deploy {n} to {source} first"
        )
    return None


@dataclass(frozen=True)
class Deployment:
    """One entry of an environment's deploy history, oldest first."""

    version: int
    tag: str
    at: str = ""


def choose_rollback(
    history: list[Deployment],
    current: int | None,
    known_good: Callable[[int], bool],
) -> Deployment:
    """The version a rollback puts back: the newest earlier deployment that is known-good
    and differs from what the environment serves now. RuleError if there is none."""
    for entry in reversed(history):
        if entry.version == current:
            continue
        if known_good(entry.version):
            return entry
    served = names.version_string(current) if current is not None else "nothing"
    tried = ", ".join(names.version_string(d.version) for d in history) or "none"
    raise RuleError(
        f"no earlier known-good version to roll back to (serving {served}; deploy history: {tried}; "
        f"a version is known-good once it passed the staging test)"
    )
