"""The lifecycle's rules: version answers, class answers, approvals, promotions, rollback choice."""

from __future__ import annotations

import json

import pytest

from gourmetgram import names
from gourmetgram.lifecycle import rules
from gourmetgram.lifecycle.rules import Deployment


def test_version_answer_accepts_only_the_expected_version():
    assert rules.check_version_answer(json.dumps({"model_version": "1.0.7"}), 7) is None
    assert "reports 1.0.6, expected 1.0.7" in rules.check_version_answer('{"model_version": "1.0.6"}', 7)
    assert "without a model_version" in rules.check_version_answer('{"version": "1.0.7"}', 7)
    assert "did not answer JSON" in rules.check_version_answer("<html>1.0.7</html>", 7)


@pytest.mark.parametrize("cls", names.CLASSES)
def test_class_answer_accepts_each_class(cls):
    assert rules.check_class_answer(cls + "\n") is None


@pytest.mark.parametrize("answer", ["", "bread", "Pizza", "<p>Bread</p>", "Bread, Egg"])
def test_class_answer_refuses_anything_else(answer):
    assert "not one of the 11 classes" in rules.check_class_answer(answer)


def test_approval_by_tag_or_alias():
    assert rules.is_approved({rules.APPROVAL_TAG: rules.APPROVAL_TAG_VALUE})
    assert rules.is_approved({}, [names.ALIAS_STAGING_APPROVED])
    assert not rules.is_approved({}, [names.ALIAS_STAGING, names.ALIAS_DEVELOPMENT])
    assert not rules.is_approved({rules.APPROVAL_TAG: "false"})


def test_promotion_allowed_when_approved_and_served_by_source():
    assert rules.promotion_refusal(names.CANARY, names.PRODUCTION, 3, approved=True, source_version=3) is None
    assert rules.promotion_refusal(names.STAGING, names.CANARY, 3, approved=True, source_version=3) is None


def test_promotion_refuses_unapproved_version():
    reason = rules.promotion_refusal(names.CANARY, names.PRODUCTION, 3, approved=False, source_version=3)
    assert "not staging-approved" in reason


def test_promotion_refuses_version_not_in_source():
    reason = rules.promotion_refusal(names.CANARY, names.PRODUCTION, 3, approved=True, source_version=2)
    assert "version 3 is not in canary" in reason and "1.0.2" in reason
    reason = rules.promotion_refusal(names.CANARY, names.PRODUCTION, 3, approved=True, source_version=None)
    assert "canary serves no version" in reason


@pytest.mark.parametrize(
    ("source", "target"),
    [(names.STAGING, names.PRODUCTION), (names.PRODUCTION, names.CANARY), (names.CANARY, names.STAGING)],
)
def test_promotion_refuses_skipping_or_going_back(source, target):
    reason = rules.promotion_refusal(source, target, 3, approved=True, source_version=3)
    assert f"cannot promote {source} -> {target}" in reason


def test_promotion_refuses_bad_input():
    assert "unknown environment" in rules.promotion_refusal("prod", names.PRODUCTION, 3, True, 3)
    assert "non-negative integer" in rules.promotion_refusal(names.CANARY, names.PRODUCTION, "x", True, 3)


def _history(*versions: int) -> list[Deployment]:
    return [Deployment(v, names.image_tag(names.PRODUCTION, v)) for v in versions]


def test_rollback_picks_the_newest_earlier_known_good_version():
    chosen = rules.choose_rollback(_history(1, 2, 3), current=3, known_good=lambda v: True)
    assert chosen.version == 2


def test_rollback_skips_versions_that_are_not_known_good():
    chosen = rules.choose_rollback(_history(1, 2, 3), current=3, known_good=lambda v: v != 2)
    assert chosen.version == 1


def test_rollback_skips_redeploys_of_the_current_version():
    # 1 -> 2 -> rollback to 1 -> forward to 2 again: the next rollback goes to 1, not 2.
    chosen = rules.choose_rollback(_history(1, 2, 1, 2), current=2, known_good=lambda v: True)
    assert chosen.version == 1


def test_rollback_without_an_earlier_good_version_is_refused():
    with pytest.raises(rules.RuleError, match="no earlier known-good version"):
        rules.choose_rollback(_history(4), current=4, known_good=lambda v: True)
    with pytest.raises(rules.RuleError, match="deploy history: none"):
        rules.choose_rollback([], current=None, known_good=lambda v: True)
