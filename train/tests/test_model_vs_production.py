"""Champion/challenger: not worse than the model serving production, on the same evaluation images."""

from __future__ import annotations

import pytest


def test_not_worse_than_production_by_more_than_the_margin(report):
    champion = report["champion"]
    if champion is None:
        pytest.skip("no model serves production yet: only the absolute and per-class gates apply")
    print(champion["explain"])
    assert champion["ok"], champion["explain"]
