"""The gate's judgement: per-class recall floor, champion/challenger margin, McNemar's exact test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from gourmetgram import names
from train import evaluation

N = 200  # evaluation images, 1 image = 0.5 accuracy points


def _evaluation(labels: np.ndarray, predicted: np.ndarray) -> evaluation.Evaluation:
    return evaluation.Evaluation([f"img{i:04d}.jpg" for i in range(len(labels))], labels, predicted)


def _with_errors(labels: np.ndarray, wrong: list[int]) -> np.ndarray:
    """labels, except at the indices in `wrong` (answered with the next class)."""
    pred = labels.copy()
    pred[wrong] = (labels[wrong] + 1) % len(names.CLASSES)
    return pred


@pytest.fixture
def labels():
    return np.arange(N) % len(names.CLASSES)


def test_three_points_worse_than_production_is_refused_naming_the_margin(labels):
    champion = _evaluation(labels, _with_errors(labels, list(range(0, 20))))  # 0.90
    candidate = _evaluation(labels, _with_errors(labels, list(range(0, 26))))  # 0.87: 3 points worse
    result = evaluation.compare(candidate, champion, "7", margin=0.02)
    assert result.champion_accuracy == pytest.approx(0.90) and result.candidate_accuracy == pytest.approx(0.87)
    assert result.drop == pytest.approx(0.03)
    assert not result.ok
    text = result.explain()
    assert "REFUSED" in text and "margin 0.0200" in text and "drop +0.0300" in text and "version 7" in text
    # Paired: the 6 extra errors are images only production got right, none the other way.
    assert (result.test.champion_only, result.test.candidate_only) == (6, 0)
    assert f"p = {result.test.p_value:.4g}" in text


def test_within_the_margin_or_better_is_accepted(labels):
    champion = _evaluation(labels, _with_errors(labels, list(range(0, 20))))
    at_margin = _evaluation(labels, _with_errors(labels, list(range(0, 24))))  # exactly 2 points worse
    better = _evaluation(labels, _with_errors(labels, list(range(100, 110))))  # 0.95, different errors
    assert evaluation.compare(at_margin, champion, "7", margin=0.02).ok
    result = evaluation.compare(better, champion, "7", margin=0.02)
    assert result.ok and result.drop == pytest.approx(-0.05)
    assert (result.test.champion_only, result.test.candidate_only) == (10, 20)


@pytest.mark.parametrize("b, c", [(0, 0), (6, 0), (10, 2), (15, 15), (3, 40)])
def test_mcnemar_exact_p_value_matches_scipys_binomial_test(b, c):
    n = b + c
    labels = np.zeros(n + 5, dtype=np.int64)
    champion = labels.copy()
    candidate = labels.copy()
    champion[b : b + c] = 1  # champion wrong where only the candidate is right
    candidate[:b] = 1  # candidate wrong where only the champion is right
    result = evaluation.mcnemar(labels, champion, candidate)
    assert (result.champion_only, result.candidate_only) == (b, c)
    expected = 1.0 if n == 0 else stats.binomtest(b, n, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_a_class_never_answered_is_under_the_floor_by_name(labels):
    egg = names.CLASSES.index("Egg")
    pred = labels.copy()
    pred[labels == egg] = (egg + 1) % len(names.CLASSES)
    report = evaluation.build_report(_evaluation(labels, pred), floor=0.25, comparison=None)
    assert report["under_the_floor"] == ["Egg"]
    assert report["per_class_recall"][egg] == 0.0
    assert all(r == 1.0 for i, r in enumerate(report["per_class_recall"]) if i != egg)
    assert report["champion"] is None


def test_confusion_matrix_counts_true_by_predicted(labels):
    pred = _with_errors(labels, [0, 11, 22])  # three class-0 images answered as class 1
    cm = evaluation.confusion_matrix(_evaluation(labels, pred))
    assert cm.sum() == N
    assert cm[0, 1] == 3 and cm[0, 0] == int((labels == 0).sum()) - 3
    assert np.trace(cm) == N - 3


def test_comparison_needs_the_same_images(labels):
    a = _evaluation(labels, labels)
    b = evaluation.Evaluation(a.paths[:-1] + ["other.jpg"], labels, labels)
    with pytest.raises(ValueError, match="same images"):
        evaluation.compare(a, b, "1", margin=0.02)


def test_report_files_hold_the_table_the_matrix_and_the_verdict(labels, tmp_path):
    champion = _evaluation(labels, _with_errors(labels, list(range(0, 20))))
    candidate = _evaluation(labels, _with_errors(labels, list(range(0, 26))))
    report = evaluation.build_report(candidate, 0.25, evaluation.compare(candidate, champion, "3", 0.02))
    evaluation.write_report(tmp_path, report)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["champion"]["ok"] is False and saved["champion"]["champion_version"] == "3"
    assert saved["accuracy"] == pytest.approx(0.87)
    table = (tmp_path / "per_class.md").read_text().splitlines()
    assert len(table) == 2 + len(names.CLASSES) and table[2].startswith("| Bread | ")
    csv_rows = (tmp_path / "confusion_matrix.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + len(names.CLASSES)
    assert sum(int(v) for row in csv_rows[1:] for v in row.split(",")[1:]) == N
