"""Users' feedback on predictions, read from the app's capture store (app/capture_store.py).

The local platform's apps all write one store, <state>/capture (GG_CAPTURE_DIR), so a
label that reaches another environment through the gateway still finds its prediction.
"""

from __future__ import annotations

from pathlib import Path

CAPTURE_SUBDIR = "capture"
# The cluster's capture bucket in the platform's MinIO (the app charts' capture.objectStore.bucket).
CAPTURE_BUCKET = "gourmetgram-capture"


def local_capture_dir(state) -> Path:
    """The capture directory of a local platform's State (gourmetgram/local/state.py)."""
    return state.path(CAPTURE_SUBDIR)


def online_accuracy(capture_dir: str | Path) -> list[dict]:
    """Per environment and model version: predictions, labels, right, accuracy; [] without a store."""
    from app import capture_store

    if not (Path(capture_dir) / capture_store.DB_NAME).is_file():
        return []
    return capture_store.accuracy(capture_dir)
