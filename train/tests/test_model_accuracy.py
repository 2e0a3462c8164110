"""Evaluation-split accuracy, through the serving preprocessing, reaches the threshold."""

from __future__ import annotations

import numpy as np

from gourmetgram import preprocess
from train import data, layout

BATCH = 64


def test_evaluation_accuracy_reaches_threshold(predictor, data_dir, threshold, on_bad_image):
    predict, meta = predictor
    split = data.scan_split(data_dir, layout.EVALUATION, on_bad_image=on_bad_image, check_images=False)
    correct = evaluated = 0
    for start in range(0, len(split.samples), BATCH):
        chunk = split.samples[start : start + BATCH]
        batch, labels = [], []
        for path, label in chunk:
            try:
                img = preprocess.load_image(path)
            except preprocess.ImageError:
                if on_bad_image == "fail":
                    raise
                continue
            batch.append(
                preprocess.preprocess(
                    img, meta["input_size"], meta["resize_size"], tuple(meta["mean"]), tuple(meta["std"])
                )
            )
            labels.append(label)
        if batch:
            pred = predict(np.stack(batch)).argmax(axis=1)
            correct += int((pred == np.asarray(labels)).sum())
            evaluated += len(labels)
    assert evaluated > 0, "no readable evaluation images"
    accuracy = correct / evaluated
    print(f"evaluation accuracy {accuracy:.4f} on {evaluated} images (threshold {threshold})")
    assert accuracy >= threshold, f"evaluation accuracy {accuracy:.4f} is below the threshold {threshold}"
