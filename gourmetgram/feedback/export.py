"""`invoke feedback.export`: the labelled images of a capture store in the Food-11 layout.

    OUT/training/<class folder>/<prediction id>.<ext>

(train/layout.py's class folders: the class name with '/' written as '-'.) Only the
training split: the next training adds it with `train/flow.py --extra-data OUT` (or
GG_EXTRA_DATA_DIR=OUT invoke local.train); validation and evaluation stay the curated
Food-11 ones, so the champion/challenger gate still compares on the same images.
Only labelled predictions whose image the store kept can be exported (see app/capture_store.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gourmetgram import names
from gourmetgram.errors import GourmetGramError
from train import layout


class ExportError(GourmetGramError):
    """Nothing to export from there; the message says why."""


def export(capture_dir: str | Path, out: str | Path, say=print) -> dict[str, int]:
    """Copy every labelled, kept image to out; returns the count per class (all classes, 0 included)."""
    from app import capture_store

    capture_dir, out = Path(capture_dir), Path(out)
    if not (capture_dir / capture_store.DB_NAME).is_file():
        raise ExportError(
            f"no capture store at {capture_dir} ({capture_store.DB_NAME} missing): is GG_CAPTURE_DIR set?"
        )
    counts = dict.fromkeys(names.CLASSES, 0)
    rows = capture_store.labelled_images(capture_dir)
    for i, (image, label, pid) in enumerate(rows, 1):
        if label not in counts:
            raise ExportError(f"prediction {pid} has the unknown label {label!r}")
        dest = out / layout.TRAINING / layout.class_folder(label) / f"{pid}{image.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(image, dest)
        except FileNotFoundError:  # evicted between the query and the copy
            continue
        counts[label] += 1
        if i % 500 == 0:
            say(f"  {i}/{len(rows)} images")
    return counts
