"""No class is left behind: every class's recall reaches the floor."""

from __future__ import annotations


def test_every_class_recall_reaches_the_floor(report, recall_floor):
    recalls = dict(zip(report["classes"], report["per_class_recall"], strict=True))
    print("per-class recall: " + ", ".join(f"{c} {'-' if r is None else f'{r:.3f}'}" for c, r in recalls.items()))
    under = {c: recalls[c] for c in report["under_the_floor"]}
    assert not under, "class recall under the floor {:.2f}: {}".format(
        recall_floor, ", ".join(f"{c} {r:.3f}" for c, r in under.items())
    )
