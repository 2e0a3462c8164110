"""Prediction capture for feedback: every prediction recorded, some images kept (app/capture_store.py).

OFF unless GG_CAPTURE_DIR is set (unit tests and the bench baseline run without it).
Environment:
    GG_CAPTURE_DIR              the capture directory (the local platform sets <state>/capture)
    GG_CAPTURE_SAMPLE_RATE      share of predictions whose image is kept (default 0.02)
    GG_CAPTURE_LOW_CONFIDENCE   keep the image when the top-1 probability is below this (default 0.5)
    GG_CAPTURE_MAX_BYTES        cap on the kept images' bytes (default 268435456 = 256 MiB)
    GG_CAPTURE_RECENT           how many of the latest images stay available for a flag (default 200;
                                0: only sampled and low-confidence predictions can be corrected with their image)
    GG_CAPTURE_SNAPSHOT_SECONDS at most this often, after a change, write snapshot/capture.sqlite, a
                                consistent copy the cluster's sidecar mirrors to the object store
                                (app/capture_snapshot.py; default 0: off)

Capture never slows or fails a prediction: the request only puts a small record on a
bounded in-process queue; one writer thread per worker hashes the image and writes
batches to SQLite. A full queue drops the record, an error is logged; both are counted
in gourmetgram_capture_errors_total{reason}. Nothing is raised into the request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import sqlite3
import threading
import time

from app import capture_snapshot, capture_store, metrics

log = logging.getLogger("gourmetgram.app.capture")

DIR_ENV = "GG_CAPTURE_DIR"
QUEUE_SIZE = 2000
BATCH = 200
_SUFFIXES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG": ".png", b"GIF8": ".gif", b"RIFF": ".webp"}


def _float_env(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SystemExit(f"{name} must be a number in [{low:g}, {high:g}], got {raw!r}")
    return value


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise SystemExit(f"{name} must be an integer >= 0, got {raw!r}")
    return int(raw)


class Recorder:
    """The per-worker capture: record() on the request path, a writer thread behind it."""

    def __init__(
        self,
        root: str,
        sample_rate: float,
        low_confidence: float,
        max_bytes: int,
        recent: int,
        snapshot_seconds: float = 0.0,
    ):
        self.root = root
        self.sample_rate = sample_rate
        self.low_confidence = low_confidence
        self.store = capture_store.CaptureStore(root, max_bytes, recent)
        self.recent = recent
        self.snapshot_seconds = snapshot_seconds
        self._changed = False  # since the last snapshot (only with snapshot_seconds)
        self._last_snapshot = 0.0
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()  # the store's connection is shared by the writer and label()
        self._thread = threading.Thread(target=self._drain_forever, name="gg-capture", daemon=True)
        self._thread.start()

    @classmethod
    def from_env(cls) -> Recorder | None:
        root = os.environ.get(DIR_ENV, "")
        if not root:
            return None
        settings = {
            "sample_rate": _float_env("GG_CAPTURE_SAMPLE_RATE", 0.02, 0.0, 1.0),
            "low_confidence": _float_env("GG_CAPTURE_LOW_CONFIDENCE", 0.5, 0.0, 1.0),
            "max_bytes": _int_env("GG_CAPTURE_MAX_BYTES", 256 * 1024 * 1024),
            "recent": _int_env("GG_CAPTURE_RECENT", 200),
            "snapshot_seconds": _float_env("GG_CAPTURE_SNAPSHOT_SECONDS", 0.0, 0.0, 86400.0),
        }
        try:
            recorder = cls(root, **settings)
        except (OSError, sqlite3.Error) as exc:
            # An unusable store must not keep the app from serving: capture is off, loudly.
            log.error("capture OFF: cannot open the store in %s: %s", root, exc)
            metrics.CAPTURE_ERRORS.labels(reason="store_unusable").inc()
            return None
        log.info(
            "capture on: %s (sample %.3g, low confidence < %.3g, cap %d bytes, recent %d)",
            root,
            recorder.sample_rate,
            recorder.low_confidence,
            recorder.store.max_bytes,
            recorder.recent,
        )
        return recorder

    def record(self, pid: str, environment: str, version: str, class_name: str, confidence: float, image: bytes):
        """Queue one prediction; never raises, never blocks."""
        try:
            self._queue.put_nowait((pid, time.time(), environment, version, class_name, confidence, image))
        except queue.Full:
            metrics.CAPTURE_ERRORS.labels(reason="queue_full").inc()
        except Exception:  # noqa: BLE001 - capture must never fail a prediction
            metrics.CAPTURE_ERRORS.labels(reason="error").inc()

    def _keep(self, confidence: float) -> str | None:
        if confidence < self.low_confidence:
            return capture_store.LOW_CONFIDENCE
        if self.sample_rate and random.random() < self.sample_rate:
            return capture_store.SAMPLED
        return None

    def _to_capture(self, raw) -> capture_store.Capture:
        pid, at, environment, version, class_name, confidence, image = raw
        keep = self._keep(confidence)
        return capture_store.Capture(
            pid,
            at,
            environment,
            version,
            class_name,
            confidence,
            hashlib.sha256(image).hexdigest(),
            image if keep or self.recent else None,
            keep,
            _SUFFIXES.get(image[:4], _SUFFIXES.get(image[:3], ".img")),
        )

    def _drain_forever(self) -> None:
        while True:
            try:
                # With snapshots on, wake up now and then: a label changes the store without a queue item.
                batch = [self._queue.get(timeout=self.snapshot_seconds or None)]
            except queue.Empty:
                self._maybe_snapshot()
                continue
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                items = [self._to_capture(raw) for raw in batch]
                with self._lock:
                    self.store.add(items)
                self._changed = True
            except Exception:  # noqa: BLE001 - log and count, keep the thread alive
                log.exception("capture: %d prediction(s) not recorded", len(batch))
                metrics.CAPTURE_ERRORS.labels(reason="store").inc(len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
            self._maybe_snapshot()

    def _maybe_snapshot(self) -> None:
        if not (self.snapshot_seconds and self._changed):
            return
        if time.monotonic() - self._last_snapshot < self.snapshot_seconds:
            return
        self._changed = False
        self._last_snapshot = time.monotonic()
        try:
            capture_snapshot.snapshot(self.root)
        except Exception:  # noqa: BLE001 - a failed snapshot is retried at the next change
            log.exception("capture: snapshot failed")
            metrics.CAPTURE_ERRORS.labels(reason="snapshot").inc()
            self._changed = True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until this worker's queued predictions are in the store (True) or timeout (False)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def label(self, pid: str, correct: bool, true_class: str | None, wait: float = 1.0) -> capture_store.Labelled:
        """Record a label; an id another worker may still be writing gets up to `wait` seconds to appear."""
        self.flush(wait)
        deadline = time.monotonic() + wait
        while True:
            try:
                with self._lock:
                    labelled = self.store.label(pid, correct, true_class)
                self._changed = True
                return labelled
            except capture_store.FeedbackError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
