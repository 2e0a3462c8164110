"""POST /feedback and the prediction id (app/feedback.py, app/routes.py) through Flask's test client;
the capture Recorder under a 10,000-prediction load (app/capture.py)."""

from __future__ import annotations

import io
import random
import re
import time

import pytest
from prometheus_client import REGISTRY

from app import app as app_module
from app import capture, capture_store, metrics
from gourmetgram import names

ENV = names.CANARY
ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _feedback_count(version: str, outcome: str) -> float:
    labels = {"environment": ENV, "model_version": version, "outcome": outcome}
    return REGISTRY.get_sample_value("gourmetgram_feedback_total", labels) or 0.0


@pytest.fixture
def capture_dir(tmp_path):
    return tmp_path / "capture"


@pytest.fixture
def client(tiny_model_dir, version_file, monkeypatch, capture_dir):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("GG_ENVIRONMENT", ENV)
    monkeypatch.setenv(capture.DIR_ENV, str(capture_dir))
    monkeypatch.setenv("GG_CAPTURE_SAMPLE_RATE", "0")
    monkeypatch.setenv("GG_CAPTURE_LOW_CONFIDENCE", "0")
    monkeypatch.setenv("GG_CAPTURE_RECENT", "5")
    return app_module.create_app(tiny_model_dir, version_file).test_client()


def _predict(client, jpeg: bytes, accept="application/json"):
    resp = client.post("/predict", data={"file": (io.BytesIO(jpeg), "a.jpg")}, headers={"Accept": accept})
    assert resp.status_code == 200
    return resp


def _other_class(name: str) -> str:
    return next(c for c in names.CLASSES if c != name)


def test_a_prediction_carries_an_id_and_the_page_a_feedback_form(client, make_jpeg):
    answer = _predict(client, make_jpeg()).json
    assert ID_RE.match(answer["prediction_id"])
    html = _predict(client, make_jpeg(), accept="text/html").get_data(as_text=True)
    pid = re.search(r'data-prediction-id="([0-9a-f]{32})"', html).group(1)
    assert pid != answer["prediction_id"]
    assert f'name="prediction_id" value="{pid}"' in html and 'action="/feedback"' in html


def test_right_and_wrong_are_recorded_counted_and_keep_the_image(client, make_jpeg, capture_dir, version_file):
    version = version_file.read_text().strip()
    right0, wrong0 = _feedback_count(version, "right"), _feedback_count(version, "wrong")
    a = _predict(client, make_jpeg(seed=1)).json
    b = _predict(client, make_jpeg(seed=2)).json
    ok = client.post("/feedback", json={"prediction_id": a["prediction_id"], "correct": True})
    assert ok.status_code == 200 and ok.json["outcome"] == "right"
    fix = _other_class(b["class_name"])
    # The page's form: fields, not JSON; the answer is the HTML snippet that replaces the form.
    wrong = client.post(
        "/feedback",
        data={"prediction_id": b["prediction_id"], "correct": "false", "true_class": fix},
        headers={"Accept": "text/html"},
    )
    assert wrong.status_code == 200 and f"recorded as {fix}" in wrong.get_data(as_text=True)
    assert _feedback_count(version, "right") == right0 + 1
    assert _feedback_count(version, "wrong") == wrong0 + 1
    store = capture_store.CaptureStore(capture_dir, 10**6)
    row = store.get(b["prediction_id"])
    assert (row["label"], row["environment"], row["model_version"]) == (fix, ENV, version)
    assert (capture_dir / row["image_path"]).read_bytes() == make_jpeg(seed=2)  # kept from the recent buffer
    assert row["keep_rank"] == capture_store.KEEP_ORDER.index(capture_store.LABELLED)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"prediction_id": "nope", "correct": True}, 400, "bad_id"),
        ({"prediction_id": "{pid}", "correct": "maybe"}, 400, "bad_correct"),
        ({"prediction_id": "{pid}", "correct": False}, 400, "no_class"),
        ({"prediction_id": "{pid}", "correct": False, "true_class": "Pizza"}, 400, "unknown_class"),
        ({"prediction_id": "{pid}", "correct": False, "true_class": "{predicted}"}, 400, "bad_request"),
        ({"prediction_id": "0" * 32, "correct": True}, 404, "unknown_id"),
        (["not", "an", "object"], 400, "bad_request"),
    ],
)
def test_bad_feedback_gets_a_clear_4xx_and_loses_nothing(client, make_jpeg, capture_dir, body, status, reason):
    pred = _predict(client, make_jpeg()).json
    if isinstance(body, dict):
        body = {
            k: v.format(pid=pred["prediction_id"], predicted=pred["class_name"]) if isinstance(v, str) else v
            for k, v in body.items()
        }
    resp = client.post("/feedback", json=body)
    assert resp.status_code == status and resp.json["reason"] == reason, resp.json
    assert resp.json["error"]
    # The prediction can still be labelled afterwards, once.
    ok = client.post("/feedback", json={"prediction_id": pred["prediction_id"], "correct": True})
    assert ok.status_code == 200
    again = client.post("/feedback", json={"prediction_id": pred["prediction_id"], "correct": True})
    assert again.status_code == 409 and again.json["reason"] == "already_labelled"


def test_with_capture_off_predictions_still_have_ids_and_feedback_says_why_not(
    tiny_model_dir, version_file, monkeypatch, make_jpeg
):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    monkeypatch.delenv(capture.DIR_ENV, raising=False)
    client = app_module.create_app(tiny_model_dir, version_file).test_client()
    pid = _predict(client, make_jpeg()).json["prediction_id"]
    assert 'class="feedback"' not in _predict(client, make_jpeg(), accept="text/html").get_data(as_text=True)
    resp = client.post("/feedback", json={"prediction_id": pid, "correct": True})
    assert resp.status_code == 503 and "GG_CAPTURE_DIR" in resp.json["error"]


def test_an_unusable_capture_dir_leaves_the_app_serving_with_capture_off(
    tiny_model_dir, version_file, monkeypatch, make_jpeg, tmp_path
):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv(capture.DIR_ENV, str(blocker / "capture"))
    client = app_module.create_app(tiny_model_dir, version_file).test_client()
    assert client.get("/readyz").status_code == 200
    pid = _predict(client, make_jpeg()).json["prediction_id"]
    assert client.post("/feedback", json={"prediction_id": pid, "correct": True}).status_code == 503


def test_a_broken_store_never_fails_a_prediction(client, make_jpeg):
    recorder = client.application.extensions["gourmetgram.capture"]
    before = REGISTRY.get_sample_value("gourmetgram_capture_errors_total", {"reason": "store"}) or 0.0

    def broken(items):
        raise OSError("disk full")

    recorder.store.add = broken
    assert _predict(client, make_jpeg()).json["class_name"] in names.CLASSES
    assert recorder.flush(5)
    assert REGISTRY.get_sample_value("gourmetgram_capture_errors_total", {"reason": "store"}) == before + 1


def test_the_cap_holds_under_10000_predictions(tmp_path, make_jpeg):
    """10,000 predictions through the Recorder (queue, writer thread, store), labels in between."""
    cap = 300_000
    rec = capture.Recorder(str(tmp_path), sample_rate=0.2, low_confidence=0.3, max_bytes=cap, recent=50)
    images = [make_jpeg(size=(40 + 8 * i, 40), seed=i) for i in range(20)]
    rng = random.Random(0)
    start = time.perf_counter()
    labelled = []
    for i in range(10_000):
        pid = f"{i:032x}"
        rec.record(pid, ENV, "1.0.3", names.CLASSES[i % 11], rng.random(), images[i % 20])
        if i % 500 == 499:
            rec.flush(10)
            labelled.append(pid)
            rec.label(pid, correct=False, true_class=names.CLASSES[(i + 1) % 11])
        if i % 1000 == 999:
            assert rec.store.used_bytes() <= cap
    assert rec.flush(30)
    seconds = time.perf_counter() - start
    store = rec.store
    assert store._db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 10_000
    assert store.used_bytes() == store.disk_bytes() <= cap
    assert store.used_bytes() > cap * 0.9  # the cap was reached, and held
    # The labelled images (the last of each 500, from the recent buffer) are all still there.
    assert all(store.get(pid)["image_path"] for pid in labelled)
    print(f"10,000 captured predictions in {seconds:.1f} s")
