"""A consistent copy of the capture database for the object store: snapshot/capture.sqlite.

capture.sqlite is written all the time (WAL, several gunicorn workers), so copying the
file (or its -wal) from outside gives a torn database. SQLite's online backup API reads
the whole database inside one read transaction: the copy holds exactly the transactions
committed when it started, never half of one. The copy is written to a temporary file,
switched to a self-contained rollback journal (no -wal beside it) and renamed into
place, so a reader (the `mc mirror --watch` sidecar uploads on the rename) only ever sees
a complete snapshot.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from app import capture_store

SNAPSHOT_DIR = "snapshot"
SNAPSHOT_NAME = capture_store.DB_NAME


def snapshot(root: str | Path) -> Path:
    """Write root/snapshot/capture.sqlite from root's live store; returns its path."""
    root = Path(root)
    folder = root / SNAPSHOT_DIR
    folder.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".sqlite")
    os.close(fd)
    source = sqlite3.connect(root / capture_store.DB_NAME, timeout=capture_store.BUSY_TIMEOUT_MS / 1000)
    try:
        dest = sqlite3.connect(tmp)
        try:
            source.backup(dest)  # pages=-1: all pages in one step, one read transaction
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        final = folder / SNAPSHOT_NAME
        os.replace(tmp, final)
        return final
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        source.close()
