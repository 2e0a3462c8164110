"""app.app through Flask's test client: content negotiation, limits, metrics, no disk writes."""

from __future__ import annotations

import io

import pytest
import werkzeug.formparser
from prometheus_client import REGISTRY

from app import app as app_module
from app import metrics
from gourmetgram import names


@pytest.fixture
def client(tiny_model_dir, version_file, monkeypatch):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    monkeypatch.delenv("GG_MAX_UPLOAD_BYTES", raising=False)
    return app_module.create_app(tiny_model_dir, version_file).test_client()


def post_image(client, data: bytes, accept: str, filename: str = "a.jpg"):
    return client.post(
        "/predict",
        data={"file": (io.BytesIO(data), filename)},
        headers={"Accept": accept},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    ("accept", "json_expected"),
    [
        ("application/json", True),
        ("text/html", False),
        ("*/*", False),
        ("text/html,application/json;q=0.9", False),
        ("application/json,text/html;q=0.5", True),
    ],
)
def test_predict_answers_json_only_when_the_client_prefers_it(client, make_jpeg, accept, json_expected):
    resp = post_image(client, make_jpeg(), accept)
    assert resp.status_code == 200
    if json_expected:
        assert resp.get_json()["class_name"] in names.CLASSES
    else:
        assert resp.mimetype == "text/html" and 'class="class-name"' in resp.get_data(as_text=True)


def test_uploads_are_never_spooled_to_disk(client, make_jpeg, monkeypatch):
    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", no_disk)
    big = make_jpeg(size=(1200, 900))  # a noise JPEG this size is well over werkzeug's 500 KB spool threshold
    assert len(big) > 600 * 1024
    assert post_image(client, big, "application/json").status_code == 200


def test_upload_limit_comes_from_the_environment(tiny_model_dir, version_file, make_jpeg, monkeypatch):
    monkeypatch.setenv("GG_MAX_UPLOAD_BYTES", "2048")
    client = app_module.create_app(tiny_model_dir, version_file).test_client()
    resp = post_image(client, make_jpeg(size=(200, 200)), "application/json")
    assert resp.status_code == 413
    assert resp.get_json() == {"error": "upload too large: the limit is 2 KiB", "reason": "too_large"}


@pytest.mark.parametrize("raw", ["ten", "0", "-5"])
def test_a_bad_upload_limit_stops_startup_with_a_clear_message(tiny_model_dir, version_file, monkeypatch, raw):
    monkeypatch.setenv("GG_MAX_UPLOAD_BYTES", raw)
    with pytest.raises(SystemExit, match="GG_MAX_UPLOAD_BYTES must be a positive integer"):
        app_module.create_app(tiny_model_dir, version_file)


def test_a_malformed_version_file_is_not_ready(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    bad = tmp_path / "versions.txt"
    bad.write_text("v2\n")
    client = app_module.create_app(tiny_model_dir, bad).test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503 and "expected 1.0.<N>" in resp.get_json()["reason"]


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_latency_predictions_and_refusals(client, make_jpeg):
    answer = client.get("/test").get_data(as_text=True)
    before_pred = _sample("gourmetgram_predictions_total", class_name=answer)
    before_req = _sample("gourmetgram_http_requests_total", endpoint="/test", method="GET", status="200")
    before_lat = _sample("gourmetgram_http_request_duration_seconds_count", endpoint="/test")
    before_empty = _sample("gourmetgram_invalid_inputs_total", reason="empty")
    before_404 = _sample("gourmetgram_http_requests_total", endpoint="unmatched", method="GET", status="404")

    assert client.get("/test").get_data(as_text=True) == answer
    assert post_image(client, b"", "application/json").status_code == 400
    assert client.get("/no/such/page").status_code == 404

    assert _sample("gourmetgram_predictions_total", class_name=answer) == before_pred + 1
    assert _sample("gourmetgram_http_requests_total", endpoint="/test", method="GET", status="200") == before_req + 1
    assert _sample("gourmetgram_http_request_duration_seconds_count", endpoint="/test") == before_lat + 1
    assert _sample("gourmetgram_invalid_inputs_total", reason="empty") == before_empty + 1
    not_found = _sample("gourmetgram_http_requests_total", endpoint="unmatched", method="GET", status="404")
    assert not_found == before_404 + 1

    text = client.get("/metrics").get_data(as_text=True)
    assert 'gourmetgram_model_info{environment="none",model_version="1.0.4"} 1.0' in text
    assert "gourmetgram_model_ready 1.0" in text


def test_the_bundled_test_image_is_small_and_readable():
    from gourmetgram import preprocess

    assert app_module.TEST_IMAGE.stat().st_size < 50 * 1024
    img = preprocess.load_image(app_module.TEST_IMAGE)
    assert min(img.size) >= 64


def test_an_image_sent_as_a_text_field_is_told_to_upload_a_file(client):
    resp = client.post(
        "/predict",
        data={"file": "x" * 600_000},  # over werkzeug's default 500 KB form memory, under the upload limit
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400
    assert resp.get_json()["reason"] == "not_a_file"
    assert "curl -F file=@photo.jpg" in resp.get_json()["error"]


@pytest.mark.parametrize(
    ("data_source", "notice"),
    [
        ("synthetic", "demo model trained on synthetic data"),
        ("placeholder", "placeholder model (untrained)"),
        ("food11", None),
        (None, None),  # a model.json from before data_source existed
    ],
)
def test_the_page_says_what_the_model_was_trained_on(tiny_model_dir, version_file, tmp_path, data_source, notice):
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    meta = json.loads((model / "model.json").read_text())
    meta.pop("data_source", None)
    if data_source is not None:
        meta["data_source"] = data_source
    (model / "model.json").write_text(json.dumps(meta))
    page = app_module.create_app(model, version_file).test_client().get("/").get_data(as_text=True)
    if notice is None:
        assert 'id="model-notice"' not in page
    else:
        assert 'id="model-notice"' in page and notice in page
