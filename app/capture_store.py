"""The capture store: one SQLite row per prediction, and some of the images, under a size cap.

Layout of a capture directory (GG_CAPTURE_DIR):
    capture.sqlite      predictions: id, time, environment, model version, class, confidence,
                        image sha256, the kept image (if any) and why, and the user's label
    images/<id>.<ext>   the kept images

Why an image is kept (KEEP_ORDER, first evicted first):
    sampled         a random share of all predictions (sample_rate)
    low_confidence  top-1 probability under the threshold
    recent          with recent_limit > 0, every image enters as recent: the last
                    `recent_limit` images stay, so a prediction a user flags soon after can
                    still get its image (see label()). Bounded in number; an image leaving
                    the window becomes sampled / low_confidence if it is one, else goes
    labelled        the user confirmed or corrected the class: the images training can use

The cap (max_bytes) counts the kept images' bytes. Several gunicorn workers (processes)
write at once: every change runs in one `BEGIN IMMEDIATE` transaction (SQLite's write
lock), so "total + new <= cap, else evict" is atomic across processes. A new image only
evicts images of a reason before its own in KEEP_ORDER or older ones of its own (in that
order, oldest first): sampled images go first, labelled ones are never evicted by new
images. An image that does not fit is not kept; its row is.
Images are staged in temporary files and renamed into place inside the transaction;
evicted files are deleted right after the commit. So at rest the bytes on disk are
exactly what the rows count (in flight: + one batch's staged files per writer).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "capture.sqlite"
IMAGES_DIR = "images"
SAMPLED, LOW_CONFIDENCE, RECENT, LABELLED = "sampled", "low_confidence", "recent", "labelled"
KEEP_ORDER = (SAMPLED, LOW_CONFIDENCE, RECENT, LABELLED)
_RANK = {reason: i for i, reason in enumerate(KEEP_ORDER)}
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    environment TEXT NOT NULL,
    model_version TEXT NOT NULL,
    class_name TEXT NOT NULL,
    confidence REAL NOT NULL,
    sha256 TEXT NOT NULL,
    image_path TEXT,
    image_bytes INTEGER NOT NULL DEFAULT 0,
    keep_rank INTEGER,
    later_rank INTEGER,
    label TEXT,
    labelled_at REAL
);
CREATE INDEX IF NOT EXISTS predictions_eviction ON predictions (keep_rank, at) WHERE image_path IS NOT NULL;
CREATE INDEX IF NOT EXISTS predictions_labelled ON predictions (environment, model_version) WHERE label IS NOT NULL;
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, bytes) VALUES (1, 0);
"""


class FeedbackError(ValueError):
    """A label the store refuses; status is the HTTP code the API answers with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Capture:
    """One prediction to record; image is the uploaded bytes (kept only for a keep reason)."""

    id: str
    at: float
    environment: str
    model_version: str
    class_name: str
    confidence: float
    sha256: str
    image: bytes | None = None
    keep: str | None = None  # SAMPLED, LOW_CONFIDENCE or None (then only the recent window keeps it)
    suffix: str = ".jpg"


@dataclass(frozen=True)
class Labelled:
    """What label() recorded: the prediction's environment and version, and its outcome."""

    id: str
    environment: str
    model_version: str
    class_name: str
    label: str
    image_kept: bool

    @property
    def outcome(self) -> str:
        return "right" if self.label == self.class_name else "wrong"


class CaptureStore:
    """The SQLite database and image folder of one capture directory (see the module doc)."""

    def __init__(self, root: str | Path, max_bytes: int, recent_limit: int = 0):
        if max_bytes < 0 or recent_limit < 0:
            raise ValueError("max_bytes and recent_limit must be >= 0")
        self.root = Path(root)
        self.images = self.root / IMAGES_DIR
        self.images.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.recent_limit = recent_limit
        self._db = connect(self.root)

    def close(self) -> None:
        self._db.close()

    # -- writes --------------------------------------------------------------------------

    def add(self, items: Iterable[Capture]) -> None:
        """Record predictions (one transaction for the batch), keeping the images that fit.

        Candidate images are written to temporary files first (outside the lock) and renamed
        into place inside the transaction: another process can only see (and evict) a row
        whose file already exists.
        """
        items = list(items)
        staged = {item.id: _stage(self.images, item.image) for item in items if self._wants(item)}
        evicted: list[str] = []
        try:
            with _immediate(self._db) as db:
                for item in items:
                    path = self._reserve(db, item, evicted) if item.id in staged else None
                    if path:
                        os.replace(staged.pop(item.id), self.root / path)
                    db.execute(
                        "INSERT OR IGNORE INTO predictions (id, at, environment, model_version, class_name,"
                        " confidence, sha256, image_path, image_bytes, keep_rank, later_rank)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            item.id,
                            item.at,
                            item.environment,
                            item.model_version,
                            item.class_name,
                            float(item.confidence),
                            item.sha256,
                            path,
                            len(item.image) if path else 0,
                            self._entry_rank(item) if path else None,
                            _RANK[item.keep] if path and item.keep else None,
                        ),
                    )
        finally:
            self._unlink([str(p) for p in staged.values()])
        self._unlink(evicted)

    def _wants(self, item: Capture) -> bool:
        if item.keep not in (None, SAMPLED, LOW_CONFIDENCE):
            raise ValueError(f"keep must be {SAMPLED!r}, {LOW_CONFIDENCE!r} or None, got {item.keep!r}")
        return item.image is not None and (item.keep is not None or self.recent_limit > 0)

    def _entry_rank(self, item: Capture) -> int:
        return _RANK[RECENT] if self.recent_limit else _RANK[item.keep]

    def _reserve(self, db: sqlite3.Connection, item: Capture, evicted: list[str]) -> str | None:
        """Make room for item's image (inside the write transaction); its relative path, or None if it cannot fit."""
        size = len(item.image)
        rank = self._entry_rank(item)
        if size > self.max_bytes:
            return None
        used = db.execute("SELECT bytes FROM usage WHERE id = 1").fetchone()[0]
        if used + size > self.max_bytes:
            # Only images of this reason or one before it may go: is there enough of them?
            evictable = db.execute(
                "SELECT COALESCE(SUM(image_bytes), 0) FROM predictions WHERE image_path IS NOT NULL AND keep_rank <= ?",
                (rank,),
            ).fetchone()[0]
            if used - evictable + size > self.max_bytes:
                return None
            need = used + size - self.max_bytes
            rows = db.execute(
                "SELECT id, image_path, image_bytes FROM predictions WHERE image_path IS NOT NULL"
                " AND keep_rank <= ? ORDER BY keep_rank, at",
                (rank,),
            )
            victims = []
            for victim_id, victim_path, victim_bytes in rows:
                if need <= 0:
                    break
                victims.append((victim_id, victim_path, victim_bytes))
                need -= victim_bytes
            for victim_id, victim_path, victim_bytes in victims:
                self._drop_image(db, victim_id, victim_bytes)
                evicted.append(victim_path)
        if rank == _RANK[RECENT]:
            # The window is bounded in number: the oldest recent images leave it, to their
            # lasting reason (sampled, low_confidence) or out.
            over = db.execute(
                "SELECT id, image_path, image_bytes, later_rank FROM predictions WHERE image_path IS NOT NULL"
                " AND keep_rank = ? ORDER BY at DESC LIMIT -1 OFFSET ?",
                (_RANK[RECENT], self.recent_limit - 1),
            ).fetchall()
            for victim_id, victim_path, victim_bytes, later in over:
                if later is None:
                    self._drop_image(db, victim_id, victim_bytes)
                    evicted.append(victim_path)
                else:
                    db.execute("UPDATE predictions SET keep_rank = ? WHERE id = ?", (later, victim_id))
        db.execute("UPDATE usage SET bytes = bytes + ? WHERE id = 1", (size,))
        return f"{IMAGES_DIR}/{item.id}{item.suffix}"

    @staticmethod
    def _drop_image(db: sqlite3.Connection, pid: str, size: int) -> None:
        db.execute("UPDATE predictions SET image_path = NULL, image_bytes = 0, keep_rank = NULL WHERE id = ?", (pid,))
        db.execute("UPDATE usage SET bytes = bytes - ? WHERE id = 1", (size,))

    def _unlink(self, paths: list[str]) -> None:
        for rel in paths:
            try:
                (self.root / rel).unlink()
            except FileNotFoundError:
                pass

    def label(self, pid: str, correct: bool, true_class: str | None = None) -> Labelled:
        """Record the user's verdict; the prediction's image (if still kept) becomes 'labelled'.

        correct=True labels it with its own class; correct=False with true_class, which must differ.
        FeedbackError: 404 unknown id, 409 already labelled, 400 a true_class that contradicts `correct`.
        """
        with _immediate(self._db) as db:
            row = db.execute(
                "SELECT environment, model_version, class_name, image_path, label FROM predictions WHERE id = ?", (pid,)
            ).fetchone()
            if row is None:
                raise FeedbackError(f"unknown prediction id {pid!r} (not recorded here, or not yet)", 404)
            environment, version, class_name, image_path, old = row
            if old is not None:
                raise FeedbackError(f"prediction {pid} already has feedback (class {old!r})", 409)
            if correct and true_class not in (None, class_name):
                raise FeedbackError(f"correct is true but the prediction was {class_name!r}, not {true_class!r}", 400)
            if not correct and true_class in (None, class_name):
                raise FeedbackError(f"a correction needs a true_class other than the predicted {class_name!r}", 400)
            label = class_name if correct else true_class
            db.execute(
                "UPDATE predictions SET label = ?, labelled_at = ?, keep_rank = CASE WHEN image_path IS NULL"
                " THEN NULL ELSE ? END WHERE id = ?",
                (label, time.time(), _RANK[LABELLED], pid),
            )
        return Labelled(pid, environment, version, class_name, label, image_path is not None)

    # -- reads ---------------------------------------------------------------------------

    def get(self, pid: str) -> dict | None:
        cur = self._db.execute("SELECT * FROM predictions WHERE id = ?", (pid,))
        row = cur.fetchone()
        return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None

    def used_bytes(self) -> int:
        return self._db.execute("SELECT bytes FROM usage WHERE id = 1").fetchone()[0]

    def disk_bytes(self) -> int:
        """Bytes of the image files actually on disk (what the cap is about)."""
        return sum(p.stat().st_size for p in self.images.iterdir() if p.is_file())


def connect(root: str | Path) -> sqlite3.Connection:
    """A connection to root's capture.sqlite: WAL (readers never block the writer), a busy timeout, the schema."""
    # check_same_thread off: the app shares one connection between its writer thread and label(), under a lock.
    db = sqlite3.connect(
        Path(root) / DB_NAME, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    _create_schema(db)
    return db


def _create_schema(db: sqlite3.Connection) -> None:
    # executescript commits on its own; the statements are idempotent, so two workers may race here.
    for attempt in range(50):
        try:
            db.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.05)


class _immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock for the whole block."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def connect_read_only(root: str | Path) -> sqlite3.Connection:
    """The store in root, read-only (status and export read it while the app writes)."""
    return sqlite3.connect(f"file:{Path(root) / DB_NAME}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)


def accuracy(root: str | Path) -> list[dict]:
    """Online accuracy per environment and model version from the labels in root's store."""
    db = connect_read_only(root)
    try:
        rows = db.execute(
            "SELECT environment, model_version, COUNT(*), SUM(label = class_name) FROM predictions"
            " WHERE label IS NOT NULL GROUP BY environment, model_version ORDER BY environment, model_version"
        ).fetchall()
        predictions = dict(
            ((e, v), n)
            for e, v, n in db.execute(
                "SELECT environment, model_version, COUNT(*) FROM predictions GROUP BY environment, model_version"
            )
        )
    finally:
        db.close()
    return [
        {
            "environment": e,
            "model_version": v,
            "predictions": predictions.get((e, v), 0),
            "labels": n,
            "right": right,
            "accuracy": right / n if n else None,
        }
        for e, v, n, right in rows
    ]


def labelled_images(root: str | Path) -> list[tuple[Path, str, str]]:
    """(image file, label, prediction id) of every labelled prediction whose image is kept."""
    db = connect_read_only(root)
    try:
        rows = db.execute(
            "SELECT image_path, label, id FROM predictions WHERE label IS NOT NULL AND image_path IS NOT NULL"
            " ORDER BY at"
        ).fetchall()
    finally:
        db.close()
    return [(Path(root) / path, label, pid) for path, label, pid in rows]


def _stage(folder: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)
