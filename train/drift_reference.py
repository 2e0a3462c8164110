"""The model's input drift reference, computed at training time into its model.json.

On the held-out images (validation + evaluation splits: never trained on, so the
confidence is what new in-distribution inputs get), through the serving preprocessing
and the exported artifact itself: each image's statistics (gourmetgram/drift.py), whose
deciles and mean confidence the app compares its live traffic with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gourmetgram import drift, preprocess
from train import artifact, data, export, layout

BATCH = 64
SPLITS = (layout.VALIDATION, layout.EVALUATION)


def softmax_top1(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).max(axis=1)


def samples(model_dir: str | Path, data_dir: str | Path) -> dict[str, list[float]]:
    """Every statistic of every held-out image, in the order of the splits' sorted listing."""
    predict, meta = artifact.load_predictor(model_dir)
    size, resize, mean, std = meta["input_size"], meta["resize_size"], tuple(meta["mean"]), tuple(meta["std"])
    out: dict[str, list[float]] = {name: [] for name in drift.STATISTICS}
    paths = [p for split in SPLITS for p, _ in data.scan_split(data_dir, split, check_images=False).samples]
    for start in range(0, len(paths), BATCH):
        batch = []
        for path in paths[start : start + BATCH]:
            try:
                img = preprocess.load_image(path)
            except preprocess.ImageError:
                continue  # unreadable images are skipped, as in the evaluation
            x = preprocess.preprocess(img, size, resize, mean, std)
            for name, value in drift.image_statistics(x, mean, std).items():
                out[name].append(value)
            batch.append(x)
        if batch:
            out["confidence"].extend(float(c) for c in softmax_top1(predict(np.stack(batch)).astype(np.float64)))
    return out


def attach(model_dir: str | Path, data_dir: str | Path) -> dict:
    """Compute the reference and write it into model_dir/model.json; returns it."""
    values = samples(model_dir, data_dir)
    ref = drift.build_reference(values, source=f"{' + '.join(SPLITS)} splits of {Path(data_dir).name}")
    meta = export.read_metadata(model_dir)
    meta[drift.META_KEY] = ref
    export.write_metadata(Path(model_dir), meta)
    return ref


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write the input drift reference into a model's model.json.")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("data_dir", type=Path, help="dataset in the Food-11 layout (validation + evaluation used)")
    args = parser.parse_args(argv)
    ref = attach(args.model_dir, args.data_dir)
    print(json.dumps({"images": ref["images"], "confidence_mean": round(ref["confidence_mean"], 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
