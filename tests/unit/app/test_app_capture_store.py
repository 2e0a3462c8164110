"""The capture store (app/capture_store.py): the size cap, the eviction order, two writer processes, bad labels."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest

from app import capture_store as cs
from gourmetgram import names

BREAD, EGG = names.CLASSES[0], names.CLASSES[3]


def _item(keep: str | None, size: int = 1000, at: float | None = None, cls: str = BREAD, pid: str | None = None):
    image = bytes([len(keep or "") % 256]) * size
    return cs.Capture(
        pid or uuid.uuid4().hex,
        time.time() if at is None else at,
        names.CANARY,
        names.version_string(3),
        cls,
        0.9,
        "0" * 64,
        image,
        None if keep == cs.RECENT else keep,  # no lasting reason: only the recent window keeps it
    )


def _kept(store: cs.CaptureStore) -> dict[str, str]:
    """id -> keep reason of every prediction whose image is kept."""
    rows = store._db.execute("SELECT id, keep_rank FROM predictions WHERE image_path IS NOT NULL").fetchall()
    return {pid: cs.KEEP_ORDER[rank] for pid, rank in rows}


def _assert_consistent(store: cs.CaptureStore) -> None:
    counted = store._db.execute("SELECT COALESCE(SUM(image_bytes), 0) FROM predictions").fetchone()[0]
    assert store.used_bytes() == counted == store.disk_bytes() <= store.max_bytes


def test_the_cap_holds_and_the_rows_stay(tmp_path):
    store = cs.CaptureStore(tmp_path, max_bytes=10_500, recent_limit=5)
    for i in range(60):
        store.add([_item((cs.SAMPLED, cs.LOW_CONFIDENCE, cs.RECENT)[i % 3], size=700 + 10 * i, at=i)])
        _assert_consistent(store)
    assert store._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 60
    assert 7_500 < store.used_bytes() <= 10_500  # filled up, never over


def test_eviction_goes_oldest_sampled_then_low_confidence_and_never_labelled(tmp_path):
    store = cs.CaptureStore(tmp_path, max_bytes=5000, recent_limit=0)
    kinds = [cs.LOW_CONFIDENCE, cs.LOW_CONFIDENCE, cs.SAMPLED, cs.SAMPLED, cs.SAMPLED]
    labelled, low, s_old, s_new, s4 = (_item(k, at=i) for i, k in enumerate(kinds))
    store.add([labelled, low, s_old, s_new, s4])
    assert store.label(labelled.id, correct=False, true_class=EGG).image_kept
    s10 = _item(cs.SAMPLED, at=10)
    store.add([s10])  # needs 1000 bytes: the oldest sampled image goes
    assert s_old.id not in _kept(store) and s_new.id in _kept(store)
    low11 = _item(cs.LOW_CONFIDENCE, size=3500, at=11)
    store.add([low11])  # needs 3500: all three sampled ones, then the older low-confidence one
    assert _kept(store) == {labelled.id: cs.LABELLED, low11.id: cs.LOW_CONFIDENCE}
    # A sampled image pushes out nothing but sampled ones: it is not kept, its row is.
    late = _item(cs.SAMPLED, at=12)
    store.add([late])
    assert late.id not in _kept(store) and store.get(late.id)["image_path"] is None
    low13 = _item(cs.LOW_CONFIDENCE, size=4000, at=13)
    store.add([low13])  # only the labelled image is older: low11 goes, labelled stays
    assert _kept(store) == {labelled.id: cs.LABELLED, low13.id: cs.LOW_CONFIDENCE}
    store.add([_item(cs.LOW_CONFIDENCE, size=4500, at=14)])  # would need the labelled one's room: not kept
    assert _kept(store) == {labelled.id: cs.LABELLED, low13.id: cs.LOW_CONFIDENCE}
    _assert_consistent(store)


def test_the_recent_window_keeps_the_last_images_then_demotes_or_drops_them(tmp_path):
    store = cs.CaptureStore(tmp_path, max_bytes=10**6, recent_limit=3)
    kinds = [cs.RECENT, cs.SAMPLED, cs.LOW_CONFIDENCE, cs.RECENT, cs.RECENT, cs.RECENT]
    p0, s1, l2, p3, p4, p5 = (_item(k, size=10, at=i) for i, k in enumerate(kinds))
    for item in (p0, s1, l2, p3, p4, p5):
        store.add([item])
    assert _kept(store) == {
        s1.id: cs.SAMPLED,
        l2.id: cs.LOW_CONFIDENCE,
        p3.id: cs.RECENT,
        p4.id: cs.RECENT,
        p5.id: cs.RECENT,
    }
    assert not store.label(p0.id, correct=True).image_kept  # left the window: labelled, no image
    assert store.label(p4.id, correct=False, true_class=EGG).image_kept
    _assert_consistent(store)
    off = cs.CaptureStore(tmp_path / "off", max_bytes=10**6, recent_limit=0)
    off.add([_item(cs.RECENT)])
    assert _kept(off) == {}
    with pytest.raises(ValueError):
        off.add([_item(cs.LABELLED)])


def _writer(root: str, tag: int, n: int) -> None:
    store = cs.CaptureStore(root, max_bytes=20_000, recent_limit=20)
    for i in range(0, n, 5):
        store.add([_item((cs.SAMPLED, cs.RECENT, cs.LOW_CONFIDENCE)[(i + j) % 3], 300 + tag * 7 + j) for j in range(5)])
    store.close()


def test_two_writer_processes_keep_every_row_and_the_cap(tmp_path):
    # spawn, not fork: a fork of this (threaded) test process can inherit a held lock and hang.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), tag, 400)) for tag in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)  # a ceiling for a loaded machine, not a speed check
        assert p.exitcode == 0
    store = cs.CaptureStore(tmp_path, max_bytes=20_000, recent_limit=20)
    assert store._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 800
    _assert_consistent(store)
    assert store.used_bytes() > 15_000


def test_bad_labels_are_refused_and_change_nothing(tmp_path):
    store = cs.CaptureStore(tmp_path, max_bytes=10**6)
    item = _item(cs.SAMPLED, cls=BREAD)
    store.add([item])
    with pytest.raises(cs.FeedbackError) as unknown:
        store.label("f" * 32, correct=True)
    assert unknown.value.status == 404
    for correct, true_class in ((True, EGG), (False, BREAD), (False, None)):
        with pytest.raises(cs.FeedbackError) as bad:
            store.label(item.id, correct=correct, true_class=true_class)
        assert bad.value.status == 400
    assert store.get(item.id)["label"] is None
    assert store.label(item.id, correct=False, true_class=EGG).outcome == "wrong"
    with pytest.raises(cs.FeedbackError) as twice:
        store.label(item.id, correct=True)
    assert twice.value.status == 409
    assert store.get(item.id)["label"] == EGG
    with pytest.raises(ValueError):
        cs.CaptureStore(tmp_path, max_bytes=-1)


def test_accuracy_and_labelled_images_read_the_labels(tmp_path):
    store = cs.CaptureStore(tmp_path, max_bytes=10**6, recent_limit=10)
    items = [_item(cs.RECENT, cls=BREAD) for _ in range(4)]
    store.add(items)
    store.label(items[0].id, correct=True)
    store.label(items[1].id, correct=False, true_class=EGG)
    store.label(items[2].id, correct=True)
    (row,) = cs.accuracy(tmp_path)
    assert row == {
        "environment": names.CANARY,
        "model_version": names.version_string(3),
        "predictions": 4,
        "labels": 3,
        "right": 2,
        "accuracy": pytest.approx(2 / 3),
    }
    images = cs.labelled_images(tmp_path)
    assert sorted(label for _, label, _ in images) == [BREAD, BREAD, EGG]
    assert all(path.is_file() for path, _, _ in images)
