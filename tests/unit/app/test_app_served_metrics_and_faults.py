"""Per-version metrics the canary analysis reads, and the test-only fault injection (GG_TEST_FAULT)."""

from __future__ import annotations

import io

import pytest
from prometheus_client import REGISTRY

from app import app as app_module
from app import faults, metrics
from gourmetgram import names


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _client(tiny_model_dir, version_file, monkeypatch, env="canary", fault=""):
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    monkeypatch.setenv("GG_ENVIRONMENT", env)
    if fault:
        monkeypatch.setenv(faults.FAULT_ENV, fault)
    else:
        monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    return app_module.create_app(tiny_model_dir, version_file).test_client()


def _post(client, jpeg: bytes):
    return client.post(
        "/predict",
        data={"file": (io.BytesIO(jpeg), "a.jpg")},
        headers={"Accept": "application/json"},
        content_type="multipart/form-data",
    )


def test_served_series_exist_at_zero_and_count_per_environment_and_version(
    tiny_model_dir, version_file, monkeypatch, make_jpeg
):
    client = _client(tiny_model_dir, version_file, monkeypatch)
    labels = {"environment": "canary", "model_version": "1.0.4"}
    text = client.get("/metrics").get_data(as_text=True)
    # Pre-created at 0, so Prometheus' increase() sees the first 5xx.
    assert 'gourmetgram_served_requests_total{code_class="5xx",endpoint="/predict",environment="canary"' in text
    assert f'gourmetgram_served_predictions_total{{class_name="{names.CLASSES[-1]}",environment="canary"' in text

    ok = _sample("gourmetgram_served_requests_total", **labels, endpoint="/predict", code_class="2xx")
    bad = _sample("gourmetgram_served_requests_total", **labels, endpoint="/predict", code_class="4xx")
    conf_n = _sample("gourmetgram_served_confidence_count", **labels)
    conf_sum = _sample("gourmetgram_served_confidence_sum", **labels)
    lat_n = _sample("gourmetgram_served_request_duration_seconds_count", **labels, endpoint="/predict")
    resp = _post(client, make_jpeg())
    assert resp.status_code == 200
    body = resp.get_json()
    assert _post(client, b"").status_code == 400

    assert _sample("gourmetgram_served_requests_total", **labels, endpoint="/predict", code_class="2xx") == ok + 1
    assert _sample("gourmetgram_served_requests_total", **labels, endpoint="/predict", code_class="4xx") == bad + 1
    assert _sample("gourmetgram_served_request_duration_seconds_count", **labels, endpoint="/predict") == lat_n + 2
    assert _sample("gourmetgram_served_confidence_count", **labels) == conf_n + 1
    assert _sample("gourmetgram_served_confidence_sum", **labels) == pytest.approx(conf_sum + body["confidence"])
    assert _sample("gourmetgram_served_predictions_total", **labels, class_name=body["class_name"]) >= 1


@pytest.mark.parametrize(
    "bad",
    ["nonsense", "errors:0", "errors:2", "latency:-1", "latency:abc", "constant-class:Pizza", "errors"],
)
def test_a_bad_fault_value_stops_the_app_with_the_reason(bad):
    with pytest.raises(SystemExit, match=faults.FAULT_ENV):
        faults.parse(bad)


def test_no_fault_unless_the_variable_is_set():
    assert faults.parse("") is None
    assert faults.parse("errors:0.05").every == 20


def test_error_fault_answers_every_nth_predict_with_500(tiny_model_dir, version_file, monkeypatch, make_jpeg):
    client = _client(tiny_model_dir, version_file, monkeypatch, fault="errors:0.25")
    codes = [_post(client, make_jpeg()).status_code for _ in range(8)]
    assert codes.count(500) == 2 and codes.count(200) == 6
    assert client.get("/test").status_code == 200  # only POST /predict is hit


def test_constant_class_fault_always_answers_the_same_class(tiny_model_dir, version_file, monkeypatch, make_jpeg):
    client = _client(tiny_model_dir, version_file, monkeypatch, fault="constant-class:Egg")
    for seed in range(4):
        body = _post(client, make_jpeg(seed=seed)).get_json()
        assert body["class_name"] == "Egg"
        assert body["confidence"] == pytest.approx(body["probabilities"]["Egg"])
    assert client.get("/test").get_data(as_text=True) == "Egg"  # what the old staging test accepts


def test_latency_fault_is_a_slower_model_inside_the_timed_request(tiny_model_dir, version_file, monkeypatch, make_jpeg):
    client = _client(tiny_model_dir, version_file, monkeypatch, fault="latency:0.2")
    labels = {"environment": "canary", "model_version": "1.0.4", "endpoint": "/predict"}
    slow_before = _sample("gourmetgram_served_request_duration_seconds_count", **labels) - _sample(
        "gourmetgram_served_request_duration_seconds_bucket", **labels, le="0.15"
    )
    assert _post(client, make_jpeg()).status_code == 200
    slow_after = _sample("gourmetgram_served_request_duration_seconds_count", **labels) - _sample(
        "gourmetgram_served_request_duration_seconds_bucket", **labels, le="0.15"
    )
    assert slow_after == slow_before + 1  # the delay is in the latency the analysis reads
