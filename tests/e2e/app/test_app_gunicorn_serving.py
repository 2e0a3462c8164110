"""The app served by a real gunicorn process: routes, bad inputs, metrics, worker replacement."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
import requests
from PIL import Image

from gourmetgram import names
from tests.support.app_server import jpeg_bytes

JSON = {"Accept": "application/json"}


def predict(server, data: bytes | None, *, field: str = "file", filename: str = "photo.jpg", headers=None):
    files = {field: (filename, data, "application/octet-stream")} if data is not None else None
    return requests.post(server.url + "/predict", files=files, headers=headers or JSON, timeout=30)


def assert_good_prediction(server) -> None:
    resp = predict(server, jpeg_bytes(seed=1))
    assert resp.status_code == 200, resp.text
    assert resp.json()["class_name"] in names.CLASSES


def test_predict_answers_json_with_a_class_and_probabilities(app_server, good_jpeg, test_version):
    resp = predict(app_server, good_jpeg)
    assert resp.status_code == 200
    body = resp.json()
    assert body["class_name"] in names.CLASSES
    assert set(body["probabilities"]) == set(names.CLASSES)
    assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-4
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert body["model_version"] == test_version


def test_predict_answers_an_html_snippet_by_default(app_server, good_jpeg):
    resp = predict(app_server, good_jpeg, headers={"Accept": "text/html,*/*"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert 'class="prediction"' in resp.text
    assert any(f'<span class="class-name">{c}</span>' in resp.text for c in names.CLASSES)
    assert "% confidence" in resp.text


def test_test_route_answers_a_class_name_as_text(app_server):
    resp = requests.get(app_server.url + "/test", timeout=30)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text in names.CLASSES


def test_version_readyz_healthz(app_server, test_version):
    assert requests.get(app_server.url + "/version", timeout=10).json() == {"model_version": test_version}
    ready = requests.get(app_server.url + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json() == {"ready": True, "model_version": test_version}
    assert requests.get(app_server.url + "/healthz", timeout=10).status_code == 200


def test_upload_page_and_its_assets_are_served_locally(app_server, test_version):
    page = requests.get(app_server.url + "/", timeout=10)
    assert page.status_code == 200
    assert 'name="file"' in page.text and test_version in page.text
    assert '<span id="environment">canary</span>' in page.text
    # No CDN: every script and stylesheet is one of ours.
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        assert requests.get(app_server.url + asset, timeout=10).status_code == 200


def _truncated_jpeg() -> bytes:
    data = jpeg_bytes(size=(256, 256), seed=3)
    return data[: len(data) // 2]


def _decompression_bomb_png() -> bytes:
    # 8000x6000 = 48 M pixels (over the 40 M limit) in a few KB of PNG.
    buf = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buf, format="PNG")
    return buf.getvalue()


BAD_INPUTS = {
    "no file at all": (lambda limit: None, "file", 400, "no file"),
    "the wrong field name": (lambda limit: b"abc", "image", 400, "no file"),
    "an empty file": (lambda limit: b"", "file", 400, "empty file"),
    "a text file": (lambda limit: b"this is not an image, just text\n" * 20, "file", 400, "cannot classify"),
    "a truncated JPEG": (lambda limit: _truncated_jpeg(), "file", 400, "cannot classify"),
    "a decompression bomb": (lambda limit: _decompression_bomb_png(), "file", 413, "too large"),
    "an upload over the size limit": (lambda limit: os.urandom(limit + 4096), "file", 413, "upload too large"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_4xx_and_the_next_request_still_works(app_server, upload_limit, case):
    make_data, field, status, message = BAD_INPUTS[case]
    data = make_data(upload_limit)
    workers_before = app_server.workers()
    resp = predict(app_server, data, field=field)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]
    # The HTML form of the same error, as the upload page shows it.
    html = predict(app_server, data, field=field, headers={"Accept": "text/html"})
    assert html.status_code == status and 'class="error"' in html.text and message in html.text
    assert_good_prediction(app_server)
    assert app_server.workers() == workers_before, "a bad input must not kill or recycle a worker"


def test_metrics_merge_all_workers(app_server, test_version):
    def total_predictions() -> float:
        text = requests.get(app_server.url + "/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("gourmetgram_predictions_total{")
        )

    before = total_predictions()
    n = 12
    for i in range(n):  # a new connection each time, so both workers answer some
        assert predict(app_server, jpeg_bytes(seed=100 + i)).status_code == 200
    assert total_predictions() == before + n

    text = requests.get(app_server.url + "/metrics", timeout=10).text
    assert f'gourmetgram_model_info{{environment="canary",model_version="{test_version}"}} 1.0' in text
    assert "gourmetgram_model_ready 1.0" in text
    assert 'gourmetgram_http_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"}' in text
    assert 'gourmetgram_http_requests_total{endpoint="/predict",method="POST",status="200"}' in text


def test_a_worker_killed_with_sigkill_is_replaced(app_server):
    before = app_server.workers()
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = app_server.workers()
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"gunicorn did not replace worker {victim}: workers now {app_server.workers()}")
    for _ in range(6):  # both workers, including the new one, answer
        assert_good_prediction(app_server)
    assert requests.get(app_server.url + "/readyz", timeout=10).status_code == 200
