"""The Postgres and S3 options: MLflow on a private PostgreSQL 15 cluster and `rclone serve s3`.

A model logged through MLflow (artifact stored in the S3 bucket, registry in
Postgres) is built into a bundle, deployed to staging and passes the staging
test.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import psycopg2
import pytest
import requests
import torch
from mlflow.tracking import MlflowClient

from gourmetgram import names, values
from gourmetgram.lifecycle.steps import Lifecycle
from train.export import export_onnx
from train.model import mobilenet_v2

pytestmark = pytest.mark.slow


def _register_untrained_model(tracking_uri: str) -> int:
    """A real (untrained, tiny) ONNX model registered the way train/flow.py registers."""
    torch.set_num_threads(1)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(names.EXPERIMENT)
    client = MlflowClient(tracking_uri)
    client.create_registered_model(names.MODEL_NAME)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run() as run:
        export_onnx(mobilenet_v2(width_mult=0.35).eval(), Path(tmp) / "model", 48, names.CLASSES)
        mlflow.log_artifacts(str(Path(tmp) / "model"), "model")
        source = f"{run.info.artifact_uri}/model"
        mv = client.create_model_version(names.MODEL_NAME, source=source, run_id=run.info.run_id)
    return int(mv.version)


def test_postgres_and_s3_registry_serve_a_release(platform_factory):
    p = platform_factory(backend="postgres", artifacts="s3")
    s = p.settings
    version = _register_untrained_model(p.mlflow_url)

    # The artifact sits in the S3 bucket's directory, the registry in Postgres.
    bucket = p.state.path("s3", "data", values.artifact_bucket())
    assert list(bucket.rglob("model.onnx")), f"no model.onnx under {bucket}"
    database = values.chart_values(names.PLATFORM)["postgres"]["database"]
    password = p.state.secret("postgres_password")
    with (
        psycopg2.connect(
            host=s.host, port=s.postgres_port, user="postgres", password=password, dbname=database
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT name, version FROM model_versions")
        assert (names.MODEL_NAME, version) in cur.fetchall()

    lc = Lifecycle(p.target, p.registry(), say=p.say, staging_timeout=60)
    lc.release(version)  # build from S3, deploy, test, approve, canary
    assert requests.get(f"{p.url(names.CANARY)}/version", timeout=10).json()["model_version"] == names.version_string(
        version
    )
