"""`invoke feedback.export` (gourmetgram/feedback/export.py) read back by train/'s reader, and the
online accuracy `local.status` shows (gourmetgram/feedback)."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from PIL import Image

from app import capture_store as cs
from gourmetgram import feedback, names
from gourmetgram.feedback import export
from train import data, layout

NOODLES, EGG, SOUP = "Noodles/Pasta", "Egg", "Soup"


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 20 % 256, 80, 120)).save(buf, format="JPEG")
    return buf.getvalue()


def _predict(store, cls: str, env: str, version: int, keep: str | None, seed: int) -> str:
    pid = uuid.uuid4().hex
    store.add([cs.Capture(pid, time.time(), env, names.version_string(version), cls, 0.4, "0" * 64, _jpeg(seed), keep)])
    return pid


@pytest.fixture
def store(tmp_path):
    return cs.CaptureStore(tmp_path / "capture", max_bytes=10**6, recent_limit=0)


def test_export_writes_the_food11_layout_that_train_reads(store, tmp_path):
    pids = {}
    for i, (cls, true) in enumerate([(EGG, NOODLES), (SOUP, SOUP), (EGG, EGG), (SOUP, NOODLES)]):
        pid = _predict(store, cls, names.CANARY, 3, cs.SAMPLED, i)
        store.label(pid, correct=cls == true, true_class=None if cls == true else true)
        pids[pid] = true
    _predict(store, EGG, names.CANARY, 3, cs.SAMPLED, 9)  # not labelled: not exported
    unkept = _predict(store, EGG, names.CANARY, 3, None, 10)
    store.label(unkept, correct=True)  # labelled, but its image was not kept: not exported
    out = tmp_path / "out"
    counts = export.export(store.root, out, say=lambda _: None)
    assert counts[NOODLES] == 2 and counts[EGG] == 1 and counts[SOUP] == 1 and sum(counts.values()) == 4
    assert (out / layout.TRAINING / "Noodles-Pasta").is_dir()
    split = data.scan_split(out, layout.TRAINING, on_bad_image="fail", partial=True)
    read_back = {path.stem: names.CLASSES[idx] for path, idx in split.samples}
    assert read_back == pids
    # The full-dataset reader still insists on every class: the export is extra training data only.
    with pytest.raises(data.DataError, match="no folder for class"):
        data.scan_split(out, layout.TRAINING)


def test_export_without_a_store_says_where_it_looked(tmp_path):
    with pytest.raises(export.ExportError, match="no capture store at"):
        export.export(tmp_path / "nothing", tmp_path / "out")


def test_online_accuracy_per_environment_and_version(store):
    for i, (env, version, right) in enumerate(
        [(names.CANARY, 4, True), (names.CANARY, 4, False), (names.PRODUCTION, 3, True), (names.PRODUCTION, 3, True)]
    ):
        pid = _predict(store, SOUP, env, version, None, i)
        store.label(pid, correct=right, true_class=None if right else EGG)
    _predict(store, SOUP, names.PRODUCTION, 3, None, 9)
    rows = {(r["environment"], r["model_version"]): r for r in feedback.online_accuracy(store.root)}
    assert rows[(names.CANARY, "1.0.4")]["accuracy"] == 0.5
    assert rows[(names.PRODUCTION, "1.0.3")] | {} == {
        "environment": names.PRODUCTION,
        "model_version": "1.0.3",
        "predictions": 3,
        "labels": 2,
        "right": 2,
        "accuracy": 1.0,
    }
    assert feedback.online_accuracy(store.root / "elsewhere") == []


def test_local_status_prints_online_accuracy(store, capsys):
    from gourmetgram.tasks.local import _print_feedback

    for i, right in enumerate((True, False, True)):
        pid = _predict(store, SOUP, names.CANARY, 4, None, i)
        store.label(pid, correct=right, true_class=None if right else EGG)
    _print_feedback({"rows": feedback.online_accuracy(store.root), "error": ""})
    _print_feedback({"rows": [], "error": ""})
    out = capsys.readouterr().out
    assert "canary       1.0.4    2/3 right = 66.7%  (3 predictions recorded)" in out
    assert "feedback: no labels yet" in out
