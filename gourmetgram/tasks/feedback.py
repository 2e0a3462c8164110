"""invoke feedback.*: what users told the app about its predictions (app/feedback.py)."""

from __future__ import annotations

import time
from pathlib import Path

from invoke import Collection

from gourmetgram.errors import UsageError
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
        "from_s3": "read the cluster's capture from this S3 endpoint instead (e.g. http://127.0.0.1:9000 through"
        " a port-forward to MinIO); keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
        "bucket": "the capture bucket with --from-s3 (default gourmetgram-capture; one prefix per environment)",
    },
)
def export(c, out, capture_dir="", from_s3="", bucket=""):
    """Write the labelled images in the Food-11 layout train/ reads; train with --extra-data OUT."""
    from gourmetgram.feedback import CAPTURE_BUCKET
    from gourmetgram.feedback import export as feedback_export

    if from_s3 and capture_dir:
        raise UsageError("give --capture-dir or --from-s3, not both")
    start = time.monotonic()
    if from_s3:
        from gourmetgram.feedback import s3_export

        bucket = bucket or CAPTURE_BUCKET
        print(f"exporting the labelled images of s3://{bucket}/<environment>/ at {from_s3} to {out}")
        counts = s3_export.export_from_s3(from_s3, out, bucket)  # ExportError: one line at the task boundary
    else:
        source = _capture_dir(capture_dir)
        print(f"exporting the labelled images of {source} to {out}")
        counts = feedback_export.export(source, out)
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
