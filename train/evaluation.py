"""Evaluate a model artifact on the evaluation split, and judge a candidate against production.

The model tests (train/tests, the gate) use this module; train/flow.py logs its
report to MLflow. Three rules, each stated with its numbers when it fails:

- absolute: evaluation accuracy >= the threshold (config.threshold);
- per class: every class's recall >= a floor (config.recall_floor), so a model
  that never answers one class cannot hide behind a good average;
- champion/challenger: on the SAME evaluation images, the candidate is not
  worse than the model now serving production by more than a margin
  (config.champion_margin), in accuracy points. McNemar's exact test on the
  paired right/wrong outcomes is stated beside it: how sure we are that the
  two models differ at all. With no production model yet only the first two apply.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gourmetgram import names, preprocess
from train import artifact, data, layout

BATCH = 64


@dataclass
class Evaluation:
    """One model's answers on the evaluation split (images in a fixed, sorted order)."""

    paths: list[str]
    labels: np.ndarray  # true class index per image
    predicted: np.ndarray  # predicted class index per image

    @property
    def n(self) -> int:
        return len(self.paths)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if self.n else 0.0


def evaluate(model_dir: str | Path, data_dir: str | Path, on_bad_image: str = "skip") -> Evaluation:
    """Run the artifact in model_dir over data_dir's evaluation split, through the serving preprocessing."""
    predict, meta = artifact.load_predictor(model_dir)
    split = data.scan_split(data_dir, layout.EVALUATION, on_bad_image=on_bad_image, check_images=False)
    paths, labels, predicted = [], [], []
    for start in range(0, len(split.samples), BATCH):
        batch, chunk_labels, chunk_paths = [], [], []
        for path, label in split.samples[start : start + BATCH]:
            try:
                img = preprocess.load_image(path)
            except preprocess.ImageError:
                if on_bad_image == "fail":
                    raise
                continue
            size, resize = meta["input_size"], meta["resize_size"]
            batch.append(preprocess.preprocess(img, size, resize, tuple(meta["mean"]), tuple(meta["std"])))
            chunk_labels.append(label)
            chunk_paths.append(str(path))
        if batch:
            predicted.extend(int(i) for i in predict(np.stack(batch)).argmax(axis=1))
            labels.extend(chunk_labels)
            paths.extend(chunk_paths)
    return Evaluation(paths, np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64))


def confusion_matrix(ev: Evaluation, num_classes: int = len(names.CLASSES)) -> np.ndarray:
    """cm[true, predicted] = count."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (ev.labels, ev.predicted), 1)
    return cm


def per_class_recall(cm: np.ndarray) -> list[float | None]:
    """Recall of each class (None for a class with no evaluation images)."""
    support = cm.sum(axis=1)
    return [float(cm[i, i] / support[i]) if support[i] else None for i in range(len(cm))]


def recall_failures(recalls: list[float | None], floor: float) -> list[tuple[str, float]]:
    """(class name, recall) of every class under the floor."""
    return [(names.CLASSES[i], r) for i, r in enumerate(recalls) if r is not None and r < floor]


@dataclass
class McNemar:
    """Paired outcomes of two models on the same images."""

    champion_only: int  # images the champion got right and the candidate wrong
    candidate_only: int  # images the candidate got right and the champion wrong
    p_value: float  # exact two-sided binomial test of champion_only vs candidate_only


def mcnemar(labels: np.ndarray, champion: np.ndarray, candidate: np.ndarray) -> McNemar:
    """McNemar's exact test: under 'the models are equally good', each discordant image is a fair coin."""
    champ_right, cand_right = champion == labels, candidate == labels
    b = int((champ_right & ~cand_right).sum())
    c = int((cand_right & ~champ_right).sum())
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0)
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return McNemar(b, c, min(1.0, 2 * tail))


@dataclass
class ChampionComparison:
    champion_version: str
    images: int
    candidate_accuracy: float
    champion_accuracy: float
    margin: float
    test: McNemar

    @property
    def drop(self) -> float:
        """Accuracy points the candidate loses against production (negative: it gains)."""
        return self.champion_accuracy - self.candidate_accuracy

    @property
    def ok(self) -> bool:
        # A hair of float noise must not refuse a model exactly at the margin.
        return self.drop <= self.margin + 1e-9

    def explain(self) -> str:
        verdict = "not worse than production by more than the margin" if self.ok else "REFUSED: worse than production"
        return (
            f"champion/challenger on the same {self.images} evaluation images: candidate accuracy "
            f"{self.candidate_accuracy:.4f} vs production (version {self.champion_version}) "
            f"{self.champion_accuracy:.4f}: drop {self.drop:+.4f}, margin {self.margin:.4f} -> {verdict} "
            f"(McNemar exact test: {self.test.champion_only} images only production got right, "
            f"{self.test.candidate_only} only the candidate; p = {self.test.p_value:.4g})"
        )


def compare(candidate: Evaluation, champion: Evaluation, champion_version: str, margin: float) -> ChampionComparison:
    """The candidate against production, paired image by image."""
    if candidate.paths != champion.paths:
        raise ValueError("candidate and production were not evaluated on the same images")
    if not np.array_equal(candidate.labels, champion.labels):
        raise ValueError("candidate and production disagree on the true labels")
    return ChampionComparison(
        champion_version=champion_version,
        images=candidate.n,
        candidate_accuracy=candidate.accuracy,
        champion_accuracy=champion.accuracy,
        margin=margin,
        test=mcnemar(candidate.labels, champion.predicted, candidate.predicted),
    )


def build_report(candidate: Evaluation, floor: float, comparison: ChampionComparison | None) -> dict:
    """Everything the gate decided on, JSON-able: per-class recall, confusion matrix, the comparison."""
    cm = confusion_matrix(candidate)
    recalls = per_class_recall(cm)
    champion = None
    if comparison is not None:
        champion = {**asdict(comparison), "drop": comparison.drop, "ok": comparison.ok, "explain": comparison.explain()}
    return {
        "images": candidate.n,
        "accuracy": candidate.accuracy,
        "classes": list(names.CLASSES),
        "per_class_recall": recalls,
        "recall_floor": floor,
        "under_the_floor": [name for name, _ in recall_failures(recalls, floor)],
        "confusion_matrix": cm.tolist(),
        "champion": champion,
    }


def per_class_table(report: dict) -> str:
    """Markdown: class, images, correct, recall, and whether it is under the floor."""
    cm = report["confusion_matrix"]
    lines = ["| class | images | correct | recall | |", "|---|---:|---:|---:|---|"]
    for i, (name, r) in enumerate(zip(report["classes"], report["per_class_recall"], strict=True)):
        flag = "under the floor" if name in report["under_the_floor"] else ""
        shown = "-" if r is None else f"{r:.3f}"
        lines.append(f"| {name} | {sum(cm[i])} | {cm[i][i]} | {shown} | {flag} |")
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, report: dict) -> None:
    """report.json, per_class.md and confusion_matrix.csv in out_dir (flow.py logs them to MLflow)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "per_class.md").write_text(per_class_table(report))
    classes = report["classes"]
    rows = ["true\\predicted," + ",".join(classes)]
    rows += [f"{classes[i]}," + ",".join(str(v) for v in row) for i, row in enumerate(report["confusion_matrix"])]
    (out_dir / "confusion_matrix.csv").write_text("\n".join(rows) + "\n")
