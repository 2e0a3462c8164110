"""False alarms and detection delay of the retraining alerts, measured with the real rules and promtool.

    python -m bench.drift_alarms [--predictions 10000] [--shifted 2000] [--rate 1.0] [--out bench/drift_alarms.json]

1. A model as `local.train` makes one (ci preset, synthetic data; fewer epochs with --epochs),
   its drift reference computed as training does (train/drift_reference.py).
2. The app's own classifier (app/inference.py) on --predictions fresh in-distribution images
   (synthetic, seeds never used for the reference), each JPEG-encoded as uploaded, then on
   --shifted images of a planted shift (blurred, radius 2; inverted): per prediction the
   bins the app counts and its confidence.
3. Those series, at --rate predictions per second scraped every 15 s, replayed through
   k8s/platform/files/prometheus/retrain-alerts.yml by `promtool test rules`, which is told
   to expect no alert at every evaluation: each failure is an alert firing. Firing before
   the shift = a false alarm; the first one after it = the detection delay.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import ImageFilter, ImageOps

from app import inference
from gourmetgram import drift, names
from tests.support import drift_series as ds
from train import drift_reference, synthetic

STEP_SECONDS = 15
SHIFTS = {
    "blurred": lambda img: img.filter(ImageFilter.GaussianBlur(2)),
    "inverted": ImageOps.invert,
}


def say(msg: str) -> None:
    print(msg, flush=True)


def train_model(work: Path, epochs: int | None) -> Path:
    """The ci preset on synthetic data, exported with its drift reference, as train/flow.py does."""
    import torch

    from train import config, data, export, layout, trainer
    from train.model import mobilenet_v2

    cfg = config.CI
    if epochs is not None:
        cfg = config.TrainConfig(**{**cfg.as_params(), "finetune_epochs": epochs})
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = work / "data"
    synthetic.generate(root, seed=0, images_per_class=cfg.synthetic_images_per_class)
    splits = data.scan_dataset(root)
    model = mobilenet_v2(num_classes=len(names.CLASSES), width_mult=cfg.width_mult, dropout=cfg.dropout)
    train_set = data.ImageDataset(splits[layout.TRAINING], data.TrainTransform(cfg.input_size), True)
    val_set = data.ImageDataset(splits[layout.VALIDATION], data.EvalTransform(cfg.input_size), True)
    trainer.train(model, train_set, val_set, cfg, log=lambda line: say(f"  | {line}"))
    out = work / "model"
    model.cpu()
    export.export_onnx(model, out, cfg.input_size, names.CLASSES)
    ref = drift_reference.attach(out, root)
    say(f"model trained; drift reference: {ref['images']} held-out images, confidence {ref['confidence_mean']:.3f}")
    return out


def classify(classifier: inference.Classifier, seed: int, n: int, shift=None) -> tuple[np.ndarray, np.ndarray]:
    """(bins [n, statistics], confidence [n]) of n fresh synthetic images, optionally shifted."""
    rng = np.random.default_rng([seed, 12345])
    bins = np.zeros((n, len(drift.STATISTICS)), dtype=np.int64)
    conf = np.zeros(n)
    for i in range(n):
        img = synthetic.render(i % len(names.CLASSES), rng, 64)
        if shift is not None:
            img = shift(img)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        pred = classifier.predict_bytes(buf.getvalue())
        bins[i] = [pred.drift.bins[name] for name in drift.STATISTICS]
        conf[i] = pred.confidence
    return bins, conf


def per_step(bins: np.ndarray, conf: np.ndarray, per: int) -> tuple[np.ndarray, list[list[float]]]:
    steps = len(bins) // per
    hits = np.zeros((steps, len(drift.STATISTICS), drift.BINS))
    for t in range(steps):
        for s in range(len(drift.STATISTICS)):
            hits[t, s] += np.bincount(bins[t * per : (t + 1) * per, s], minlength=drift.BINS)
    return hits, [list(conf[t * per : (t + 1) * per]) for t in range(steps)]


def sliding_scores(ref: dict, bins: np.ndarray, window: int) -> np.ndarray:
    """drift.window_score over every window of `window` consecutive predictions (stride window/10)."""
    out = []
    for start in range(0, len(bins) - window + 1, max(1, window // 10)):
        chunk = bins[start : start + window]
        counts = {name: np.bincount(chunk[:, s], minlength=drift.BINS) for s, name in enumerate(drift.STATISTICS)}
        out.append(drift.window_score(ref, counts))
    return np.asarray(out)


def go_seconds(text: str) -> int:
    """promtool's eval time ('24m45s', '1h0m0s', '0s') in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        else:
            total += int(number) * units[ch]
            number = ""
    return total


def replay(ref: dict, normal, shifted, per: int, work: Path) -> dict:
    hits_a, conf_a = per_step(*normal, per)
    hits_b, conf_b = per_step(*shifted, per)
    hits, conf = np.concatenate([hits_a, hits_b]), conf_a + conf_b
    steps = len(hits)
    series = ds.drift_series(ref, hits) + ds.confidence_series(conf)
    tests = [
        {"eval_time": f"{t * STEP_SECONDS}s", "alertname": name, "exp_alerts": []}
        for t in range(1, steps + 1)
        for name in ds.ALERTS[:2]
    ]
    started = time.monotonic()
    out = ds.run(ds.test_file(series, tests), work)
    fired = [(name, go_seconds(at)) for name, at in ds.firing_times(out.stdout + out.stderr)]
    if out.returncode != 0 and not fired:
        raise SystemExit(f"promtool failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    shift_at = len(hits_a) * STEP_SECONDS
    false_alarms = sorted({at for name, at in fired if at <= shift_at})
    after = {}
    for name, at in fired:
        if at > shift_at:
            after[name] = min(after.get(name, at), at)
    return {
        "evaluations_before_shift": len(hits_a),
        "firing_evaluations_before_shift": len(false_alarms),
        "first_firing_after_shift_s": {name: at - shift_at for name, at in after.items()},
        "detection_delay_predictions": {name: (at - shift_at) // STEP_SECONDS * per for name, at in after.items()},
        "promtool_seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=10_000, help="in-distribution predictions")
    parser.add_argument("--shifted", type=int, default=2_000, help="predictions of each planted shift")
    parser.add_argument("--rate", type=float, default=1.0, help="predictions per second in the replay")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tune epochs (default: the ci preset's)")
    parser.add_argument("--model", type=Path, default=None, help="a model dir with its drift reference (skip training)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "drift_alarms.json")
    args = parser.parse_args(argv)
    per = round(args.rate * STEP_SECONDS)
    if per < 1:
        parser.error("--rate must give at least one prediction per 15 s scrape")
    with tempfile.TemporaryDirectory(prefix="gg-drift-bench-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        model = args.model or train_model(work, args.epochs)
        classifier = inference.Classifier(model)
        ref = classifier.drift_reference
        if ref is None:
            raise SystemExit(f"{model}/model.json has no {drift.META_KEY}")
        say(f"classifying {args.predictions} in-distribution images ...")
        normal = classify(classifier, seed=1, n=args.predictions)
        result = {
            "predictions": args.predictions,
            "rate_per_s": args.rate,
            "scrape_s": STEP_SECONDS,
            "reference_images": ref["images"],
            "reference_confidence_mean": round(ref["confidence_mean"], 4),
            "in_distribution_confidence_mean": round(float(normal[1].mean()), 4),
            "in_distribution_score": {},
            "shifts": {},
        }
        for window in (200, 600):
            scores = sliding_scores(ref, normal[0], window)
            result["in_distribution_score"][f"window_{window}"] = {
                "max": round(float(scores.max()), 4),
                "p99": round(float(np.quantile(scores, 0.99)), 4),
                "median": round(float(np.median(scores)), 4),
            }
        for name, shift in SHIFTS.items():
            say(f"classifying {args.shifted} {name} images and replaying through promtool ...")
            shifted = classify(classifier, seed=2, n=args.shifted, shift=shift)
            scores = sliding_scores(ref, shifted[0], 600)
            entry = replay(ref, normal, shifted, per, work)
            entry["score_median_window_600"] = round(float(np.median(scores)), 4)
            entry["confidence_mean"] = round(float(shifted[1].mean()), 4)
            result["shifts"][name] = entry
            say(f"  {name}: {json.dumps(entry)}")
        result["seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    first = next(iter(result["shifts"].values()))
    say(
        f"\n{args.predictions} in-distribution predictions: {first['firing_evaluations_before_shift']} evaluations "
        f"of {first['evaluations_before_shift']} with an alert firing; max score (200-prediction windows) "
        f"{result['in_distribution_score']['window_200']['max']}; "
        + "; ".join(
            f"{n}: detected after {e['detection_delay_predictions']} predictions" for n, e in result["shifts"].items()
        )
        + f"\nwritten to {args.out} ({result['seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
