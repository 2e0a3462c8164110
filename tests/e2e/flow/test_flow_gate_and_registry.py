"""The training flow against a real MLflow server: the gate decides what gets registered."""

from __future__ import annotations

import json

import pytest

from gourmetgram import drift, names
from train import flow

pytestmark = pytest.mark.slow


def _versions(client):
    return {mv.version for mv in client.search_model_versions(f"name='{names.MODEL_NAME}'")}


def _run_of(client, run_id):
    return client.get_run(run_id)


def _latest_run(client):
    exp = client.get_experiment_by_name(names.EXPERIMENT)
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]


def test_ci_preset_passes_the_gate_and_is_registered(trained, client, tmp_path):
    result, _, checkpoint = trained
    assert result.returncode == flow.EXIT_OK, result.stderr
    assert checkpoint.is_file()
    version = result.version
    mv = client.get_model_version(names.MODEL_NAME, version)
    assert f"registered {names.MODEL_NAME} version {version}" in result.stdout
    assert mv.source.endswith("/model")

    run = _run_of(client, mv.run_id)
    # 3 structure tests, accuracy, per-class recall; the comparison with production is skipped (none yet).
    assert run.data.metrics["tests_ran"] == 5
    assert run.data.metrics["tests_passed"] == 5
    assert run.data.metrics["tests_failed"] == 0
    assert run.data.metrics["evaluation_accuracy"] >= 0.8
    assert run.data.params["preset"] == "ci" and run.data.params["threshold"] == "0.8"
    assert "val_accuracy" in run.data.metrics  # per-epoch metrics were logged
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) >= 2

    log = client.download_artifacts(run.info.run_id, flow.PYTEST_LOG_ARTIFACT, str(tmp_path))
    text = open(log).read()
    assert "test_evaluation_accuracy_reaches_threshold PASSED" in text and "5 passed, 1 skipped" in text

    (tmp_path / "dl").mkdir()
    model_dir = client.download_artifacts(mv.run_id, "model", str(tmp_path / "dl"))
    meta = json.load(open(f"{model_dir}/model.json"))
    assert meta["format"] == "onnx"
    assert meta["classes"] == list(names.CLASSES)
    assert meta["input_size"] == 48
    assert (tmp_path / "dl" / "model" / "model.onnx").stat().st_size > 100_000
    # The input drift reference travels with the model; a training nobody's alert started says so.
    assert drift.check_reference(meta[drift.META_KEY])["images"] > 0
    assert run.data.tags[names.TAG_TRIGGER] == "manual" and run.data.tags[names.TAG_TRIGGER_REASON] == ""


def test_untrained_model_fails_the_gate_and_registers_nothing(trained, run_flow, client):
    _, data_dir, _ = trained
    before = _versions(client)
    result = run_flow("--data", str(data_dir), "--epochs", "0")
    assert result.returncode == flow.EXIT_TESTS_FAILED
    assert result.version == ""
    assert _versions(client) == before
    assert "test_evaluation_accuracy_reaches_threshold FAILED" in result.stdout  # the pytest output is printed
    assert "nothing registered" in result.stderr

    run = _latest_run(client)
    assert run.info.status == "FAILED"
    # Accuracy and per-class recall fail; the three structure tests pass.
    assert run.data.metrics["tests_failed"] == 2 and run.data.metrics["tests_passed"] == 3
    paths = [a.path for a in client.list_artifacts(run.info.run_id, "test_logs")]
    assert paths == [flow.PYTEST_LOG_ARTIFACT]


def test_state_dict_format_registers_a_model_without_onnx(trained, run_flow, client):
    _, data_dir, checkpoint = trained
    before = _versions(client)
    # As the lab emulates training: start from the trained checkpoint, no epochs, save only the state dict.
    result = run_flow("--data", str(data_dir), "--init-checkpoint", str(checkpoint), "--epochs", "0",
                      "--artifact-format", "state-dict")  # fmt: skip
    assert result.returncode == flow.EXIT_OK, result.stderr
    assert result.version not in before
    mv = client.get_model_version(names.MODEL_NAME, result.version)
    files = {a.path for a in client.list_artifacts(mv.run_id, "model")}
    assert files == {"model/model.pth", "model/model.json"}
    assert mv.tags["artifact_format"] == "state-dict"


def test_emulated_training_from_a_pinned_checkpoint_url(trained, run_flow, client, tmp_path):
    """The lab's emulated training: the trained checkpoint by file:// URL + sha256, no epochs, registered."""
    import hashlib

    _, data_dir, checkpoint = trained
    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    reason = "GourmetGramInputDrift: drift score 0.900 > 0.25 on production (model 1.0.3)"
    result = run_flow("--data", str(data_dir), "--init-checkpoint", checkpoint.as_uri(),
                      "--init-checkpoint-sha256", sha, "--epochs", "0",
                      **{names.TRAIN_REASON_ENV: reason})  # fmt: skip
    assert result.returncode == flow.EXIT_OK, result.stderr
    # Started by an alert (the retraining webhook sets GG_TRAIN_REASON): the reason is on the run.
    tags = client.get_run(client.get_model_version(names.MODEL_NAME, result.version).run_id).data.tags
    assert tags[names.TAG_TRIGGER] == "alert" and tags[names.TAG_TRIGGER_REASON] == reason
    assert "sha256 ok" in result.stdout and f"initial weights from {checkpoint.as_uri()}" in result.stdout
    mv = client.get_model_version(names.MODEL_NAME, result.version)
    # The data was synthetic (passed with --data): the model says so, and the app will show it.
    assert mv.tags["data_source"] == names.DATA_SYNTHETIC
    (tmp_path / "dl").mkdir()
    model_dir = client.download_artifacts(mv.run_id, "model", str(tmp_path / "dl"))
    meta = json.load(open(f"{model_dir}/model.json"))
    assert meta["data_source"] == names.DATA_SYNTHETIC and meta["init_checkpoint"] == checkpoint.as_uri()
