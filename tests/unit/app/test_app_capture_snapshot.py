"""The capture's snapshot for the object store (app/capture_snapshot.py, GG_CAPTURE_SNAPSHOT_SECONDS):
a copy taken while another process writes opens on its own and holds every row committed before it."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

from app import capture, capture_snapshot
from app import capture_store as cs
from gourmetgram import names

ROWS = 3000


def _writer(root: str, n: int) -> None:
    """One committed transaction per row, ids in order: row i exists only if rows < i do."""
    store = cs.CaptureStore(root, max_bytes=10**6, recent_limit=0)
    for i in range(n):
        keep = cs.SAMPLED if i % 10 == 0 else None
        store.add([cs.Capture(f"{i:032x}", time.time(), names.CANARY, "1.0.3", "Egg", 0.9, "0" * 64, b"x" * 500, keep)])
    store.close()


def _committed(root) -> int:
    db = sqlite3.connect(root / cs.DB_NAME, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    finally:
        db.close()


def test_a_snapshot_taken_while_another_process_writes_has_every_committed_row(tmp_path):
    cs.CaptureStore(tmp_path, max_bytes=10**6).close()  # the schema exists before the first snapshot
    proc = multiprocessing.get_context("fork").Process(target=_writer, args=(str(tmp_path), ROWS))
    proc.start()
    seen = []
    try:
        while proc.is_alive() or not seen:
            before = _committed(tmp_path)
            path = capture_snapshot.snapshot(tmp_path)
            after = _committed(tmp_path)
            # Opened read-only, alone: no -wal beside it, nothing to recover.
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
                ids = [int(r[0], 16) for r in db.execute("SELECT id FROM predictions ORDER BY id")]
                used = db.execute("SELECT bytes FROM usage").fetchone()[0]
                kept = db.execute("SELECT COALESCE(SUM(image_bytes), 0) FROM predictions").fetchone()[0]
            finally:
                db.close()
            assert ids == list(range(len(ids)))  # a prefix of the commits: no hole, no half transaction
            assert before <= len(ids) <= after
            assert used == kept  # the cap's counter agrees with the rows in the same copy
            seen.append(len(ids))
    finally:
        proc.join(30)
    assert proc.exitcode == 0
    assert len(set(seen)) >= 2, seen  # snapshots really were taken in the middle of the writes
    assert not list((tmp_path / capture_snapshot.SNAPSHOT_DIR).glob(".tmp-*"))


def test_the_recorder_snapshots_new_predictions_and_labels(tmp_path):
    recorder = capture.Recorder(
        str(tmp_path), sample_rate=0.0, low_confidence=0.5, max_bytes=10**6, recent=10, snapshot_seconds=0.05
    )
    recorder.record("a" * 32, names.STAGING, "1.0.2", "Egg", 0.9, b"\xff\xd8\xff" + b"1" * 100)
    assert recorder.flush()
    recorder.label("a" * 32, correct=False, true_class="Soup")
    path = tmp_path / capture_snapshot.SNAPSHOT_DIR / capture_snapshot.SNAPSHOT_NAME
    deadline = time.monotonic() + 10
    label = None
    while time.monotonic() < deadline and label != "Soup":
        time.sleep(0.05)
        if path.is_file():
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            row = db.execute("SELECT label FROM predictions WHERE id = ?", ("a" * 32,)).fetchone()
            db.close()
            label = row and row[0]
    assert label == "Soup"


def test_snapshots_are_off_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv(capture.DIR_ENV, str(tmp_path))
    monkeypatch.setenv("GG_CAPTURE_SNAPSHOT_SECONDS", "soon")
    try:
        capture.Recorder.from_env()
    except SystemExit as exc:
        assert "GG_CAPTURE_SNAPSHOT_SECONDS" in str(exc)
    else:
        raise AssertionError("a bad GG_CAPTURE_SNAPSHOT_SECONDS was accepted")
    monkeypatch.delenv("GG_CAPTURE_SNAPSHOT_SECONDS")
    recorder = capture.Recorder.from_env()
    assert recorder.snapshot_seconds == 0
    recorder.record("b" * 32, names.STAGING, "1.0.2", "Egg", 0.9, b"x")
    assert recorder.flush()
    time.sleep(0.1)
    assert not (tmp_path / capture_snapshot.SNAPSHOT_DIR).exists()
