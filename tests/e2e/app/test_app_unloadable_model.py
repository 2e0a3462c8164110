"""A model the app cannot load: the process stays up, says why, and is never ready.

The local platform and the Kubernetes readiness probe wait on /readyz before
sending traffic, so a bad model must stay never-ready (not crash-loop, not
half-serve).
"""

from __future__ import annotations

import time

import requests


def assert_never_ready(server, reason_part: str) -> None:
    # Checked over a few seconds: it must stay unready, not become ready or die.
    deadline = time.monotonic() + 2
    while True:
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert reason_part in ready.json()["reason"]
        assert server.proc.poll() is None, "gunicorn must keep running so the failure is visible"
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    predict = requests.post(
        server.url + "/predict",
        files={"file": ("x.jpg", b"\xff\xd8\xff")},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert predict.status_code == 503 and "not loaded" in predict.json()["error"]
    assert requests.get(server.url + "/test", timeout=10).status_code == 503
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert "gourmetgram_model_ready 0.0" in metrics
    assert "The model is not loaded" in requests.get(server.url + "/", timeout=10).text


def test_the_labs_state_dict_artifact_is_never_ready(app_factory, bad_model_dir, version_file, test_version):
    assert (bad_model_dir / "model.pth").is_file() and not (bad_model_dir / "model.onnx").exists()
    server = app_factory(bad_model_dir, version_file, wait_ready=False)
    assert_never_ready(server, "'state-dict'")
    log = server.log()
    assert "NOT READY: model not loaded" in log and "model.pth" in log
    # /version still tells which version this bundle carries, for the staging test's message.
    assert requests.get(server.url + "/version", timeout=10).json() == {"model_version": test_version}


def test_a_missing_model_directory_is_never_ready(app_factory, app_tmp, version_file):
    server = app_factory(app_tmp / "no-such-model", version_file, wait_ready=False)
    assert_never_ready(server, "does not exist")
    assert "NOT READY" in server.log()


def test_a_corrupt_onnx_file_is_never_ready(app_factory, app_tmp, tiny_model_dir, version_file):
    corrupt = app_tmp / "corrupt" / "model"
    corrupt.mkdir(parents=True)
    (corrupt / "model.json").write_text((tiny_model_dir / "model.json").read_text())
    (corrupt / "model.onnx").write_bytes(b"this is not an onnx graph")
    server = app_factory(corrupt, version_file, wait_ready=False)
    assert_never_ready(server, "onnxruntime cannot load")


def test_a_missing_version_file_is_never_ready(app_factory, app_tmp, tiny_model_dir):
    server = app_factory(tiny_model_dir, app_tmp / "no-versions.txt", wait_ready=False)
    ready = requests.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and "version file" in ready.json()["reason"]
    assert requests.get(server.url + "/version", timeout=10).status_code == 503
