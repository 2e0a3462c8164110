"""invoke feedback.*: what users told the app about its predictions (app/feedback.py)."""

from __future__ import annotations

import time
from pathlib import Path

from invoke import Collection

from gourmetgram.tasks.boundary import task


def _capture_dir(capture_dir: str) -> Path:
    if capture_dir:
        return Path(capture_dir)
    from gourmetgram.feedback import local_capture_dir
    from gourmetgram.local.state import State

    return local_capture_dir(State())


@task(
    prefix="feedback.",
    help={
        "out": "where to write OUT/training/<class>/ (required)",
        "capture_dir": "the capture store (default: the local platform's <state>/capture; GG_STATE_DIR)",
    },
)
def export(c, out, capture_dir=""):
    """Write the labelled images in the Food-11 layout train/ reads; train with --extra-data OUT."""
    from gourmetgram.feedback import export as feedback_export

    source = _capture_dir(capture_dir)
    start = time.monotonic()
    print(f"exporting the labelled images of {source} to {out}")
    counts = feedback_export.export(source, out)  # ExportError: one line at the task boundary
    for name, n in counts.items():
        if n:
            print(f"  {name:16} {n}")
    print(
        f"feedback.export: {sum(counts.values())} images in {time.monotonic() - start:.1f}s; next training: "
        f"GG_EXTRA_DATA_DIR={out} invoke local.train (or train/flow.py --extra-data {out})"
    )


def register(ns: Collection) -> None:
    feedback = Collection("feedback")
    feedback.__doc__ = "User feedback: the labelled images the app captured."
    feedback.add_task(export)
    ns.add_collection(feedback)
