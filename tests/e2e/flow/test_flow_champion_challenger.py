"""Champion/challenger through the real flow: a candidate is judged against the model serving production.

The models are real: the CI model trained by the session (`trained`), and the
same weights with one class silenced (its output bias pushed far down), so that
class's recall is 0 and accuracy drops by about one class in eleven.
"""

from __future__ import annotations

import json

import pytest
import torch

from gourmetgram import names
from train import flow

pytestmark = pytest.mark.slow

SILENCED = "Egg"


def _versions(client):
    return {mv.version for mv in client.search_model_versions(f"name='{names.MODEL_NAME}'")}


def _latest_run(client):
    exp = client.get_experiment_by_name(names.EXPERIMENT)
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]


@pytest.fixture(scope="module")
def silenced_checkpoint(trained, tmp_path_factory):
    _, _, checkpoint = trained
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["classifier.1.bias"][names.CLASSES.index(SILENCED)] -= 1e4
    path = tmp_path_factory.mktemp("silenced") / "silenced.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def production(trained, client):
    """Point the `production` alias at a version for a test; removed again at the end of the module."""
    result, _, _ = trained
    assert result.returncode == flow.EXIT_OK, result.stderr

    def serve(version: str) -> None:
        client.set_registered_model_alias(names.MODEL_NAME, names.ALIAS_PRODUCTION, version)

    yield serve
    client.delete_registered_model_alias(names.MODEL_NAME, names.ALIAS_PRODUCTION)


def test_worse_than_production_is_refused_naming_the_margin_and_the_class(
    trained, run_flow, client, production, silenced_checkpoint
):
    result, data_dir, _ = trained
    production(result.version)
    before = _versions(client)
    run = run_flow("--data", str(data_dir), "--init-checkpoint", str(silenced_checkpoint), "--epochs", "0",
                   "--threshold", "0.5")  # fmt: skip
    assert run.returncode == flow.EXIT_TESTS_FAILED
    assert run.version == "" and _versions(client) == before
    assert "margin 0.0200" in run.stderr and "REFUSED: worse than production" in run.stderr
    assert f"version {result.version}" in run.stderr
    assert f"class recall under the floor 0.25: {SILENCED} 0.000" in run.stderr

    mlflow_run = _latest_run(client)
    assert mlflow_run.info.status == "FAILED"
    assert mlflow_run.data.tags["champion_version"] == result.version
    assert mlflow_run.data.tags["champion_ok"] == "False"
    assert mlflow_run.data.metrics["min_class_recall"] == 0.0
    assert mlflow_run.data.metrics["accuracy_drop"] > 0.02
    files = {a.path for a in client.list_artifacts(mlflow_run.info.run_id, flow.EVALUATION_ARTIFACT_DIR)}
    assert files == {
        f"{flow.EVALUATION_ARTIFACT_DIR}/{f}" for f in ("report.json", "per_class.md", "confusion_matrix.csv")
    }


def test_a_class_at_zero_recall_is_refused_by_name_even_within_the_margin(
    trained, run_flow, client, production, silenced_checkpoint
):
    result, data_dir, _ = trained
    production(result.version)
    before = _versions(client)
    run = run_flow("--data", str(data_dir), "--init-checkpoint", str(silenced_checkpoint), "--epochs", "0",
                   "--threshold", "0.5", "--champion-margin", "1")  # fmt: skip
    assert run.returncode == flow.EXIT_TESTS_FAILED and _versions(client) == before
    assert f"{SILENCED} 0.000" in run.stderr
    assert "REFUSED" not in run.stderr  # within the (wide) margin: the class floor alone refuses it
    assert "test_every_class_recall_reaches_the_floor FAILED" in run.stdout


def test_a_better_model_than_production_is_registered(trained, run_flow, client, production, silenced_checkpoint):
    result, data_dir, checkpoint = trained
    # The silenced model serves production (registered with the gates it would fail relaxed, as a person might).
    weak = run_flow("--data", str(data_dir), "--init-checkpoint", str(silenced_checkpoint), "--epochs", "0",
                    "--threshold", "0.5", "--recall-floor", "0", "--champion-margin", "1")  # fmt: skip
    assert weak.returncode == flow.EXIT_OK, weak.stderr
    production(weak.version)
    better = run_flow("--data", str(data_dir), "--init-checkpoint", str(checkpoint), "--epochs", "0")
    assert better.returncode == flow.EXIT_OK, better.stderr
    assert better.version not in (weak.version, result.version)
    assert f"production (version {weak.version})" in better.stdout
    assert "not worse than production by more than the margin" in better.stdout

    mv = client.get_model_version(names.MODEL_NAME, better.version)
    run = client.get_run(mv.run_id)
    assert run.data.metrics["accuracy_drop"] < 0  # it gains accuracy
    assert run.data.metrics["tests_ran"] == 6 and run.data.metrics["tests_failed"] == 0
    report_path = client.download_artifacts(mv.run_id, f"{flow.EVALUATION_ARTIFACT_DIR}/report.json")
    report = json.loads(open(report_path).read())
    assert report["champion"]["champion_version"] == weak.version and report["under_the_floor"] == []
