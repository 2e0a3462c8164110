"""Evaluation-split accuracy, through the serving preprocessing, reaches the threshold."""

from __future__ import annotations


def test_evaluation_accuracy_reaches_threshold(report, threshold):
    assert report["images"] > 0, "no readable evaluation images"
    accuracy = report["accuracy"]
    print(f"evaluation accuracy {accuracy:.4f} on {report['images']} images (threshold {threshold})")
    assert accuracy >= threshold, f"evaluation accuracy {accuracy:.4f} is below the threshold {threshold}"
