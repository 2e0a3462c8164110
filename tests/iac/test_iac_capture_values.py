"""The app charts' feedback capture entry (values `capture`, app/capture.py): off by default; on, a
PersistentVolumeClaim mounted at /capture and GG_CAPTURE_DIR; the schema refuses a bad entry."""

from __future__ import annotations

import copy

import helm_python as helm
import iac_tools as t
import iac_values as c
import pytest

ENV_CHARTS = [p for p in t.charts() if p.name in c.names.ENVIRONMENTS]


def _with_capture(chart, **capture):
    values = copy.deepcopy(c.deploy_values(chart))
    values["capture"] = {"enabled": True, "size": "2Gi", "maxBytes": 1_000_000_000, **capture}
    return values


@pytest.mark.parametrize("chart", ENV_CHARTS, ids=[p.name for p in ENV_CHARTS])
def test_capture_is_off_by_default_and_on_renders_a_claim_and_the_env(chart, rendered, schema_version):
    assert not [d for d in rendered[chart.name] if d["kind"] == "PersistentVolumeClaim"]
    docs = t.render_chart(chart, _with_capture(chart), c.chart_namespace(chart))
    assert t.kube_validate(docs, schema_version) == []
    (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["GG_CAPTURE_DIR"] == "/capture" and env["GG_CAPTURE_MAX_BYTES"] == "1000000000"
    assert {"name": "capture", "mountPath": "/capture"} in pod["containers"][0]["volumeMounts"]
    assert {"name": "capture", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}} in pod["volumes"]


@pytest.mark.parametrize(("key", "bad"), [("maxBytes", "1GiB"), ("maxBytes", -1), ("size", "lots"), ("enabled", "yes")])
def test_the_schema_refuses_a_bad_capture_entry(key, bad):
    chart = ENV_CHARTS[0]
    with helm.Chart.load(chart) as loaded:
        loaded.validate_schema(_with_capture(chart))
        with pytest.raises(helm.HelmValuesError, match=key):
            loaded.validate_schema(_with_capture(chart, **{key: bad}))


def _with_object_store(chart, **store):
    values = _with_capture(chart)
    values["capture"]["objectStore"] = {"enabled": True, **store}
    return values


def _platform_values() -> dict:
    import yaml

    return yaml.safe_load((t.REPO / "k8s" / "platform" / "values.yaml").read_text())


@pytest.mark.parametrize("chart", ENV_CHARTS, ids=[p.name for p in ENV_CHARTS])
def test_object_store_mirror_is_off_by_default_and_on_renders_the_mc_sidecar(chart, rendered, schema_version):
    from gourmetgram import feedback

    (deploy,) = [d for d in rendered[chart.name] if d["kind"] == "Deployment"]
    assert [c["name"] for c in deploy["spec"]["template"]["spec"]["containers"]] == ["app"]
    docs = t.render_chart(chart, _with_object_store(chart), c.chart_namespace(chart))
    assert t.kube_validate(docs, schema_version) == []
    (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deploy["spec"]["template"]["spec"]
    app, mirror = pod["containers"]
    assert {e["name"]: e["value"] for e in app["env"]}["GG_CAPTURE_SNAPSHOT_SECONDS"] == "60"
    # The platform's pinned client image, its MinIO service and port, the bucket export reads.
    platform = _platform_values()
    assert mirror["image"] == platform["minio"]["clientImage"]
    env = {e["name"]: e["value"] for e in mirror["env"]}
    assert env == {
        "S3_ENDPOINT": f"http://minio.{platform['namespace']}.svc.cluster.local:{platform['minio']['apiPort']}",
        "S3_BUCKET": feedback.CAPTURE_BUCKET,
        "S3_PREFIX": c.chart_env(chart),
        "MC_CONFIG_DIR": "/tmp/.mc",
    }
    assert feedback.CAPTURE_BUCKET == platform["minio"]["captureBucket"]
    script = mirror["args"][0]
    # No probe of the server at start (--api given), then the mirror with its metrics endpoint.
    assert 'mc alias set --api S3v4 --path on platform "$S3_ENDPOINT"' in script
    assert 'mc --quiet --no-color mirror --watch --remove --monitoring-address ":8091"' in script
    assert [p["containerPort"] for p in mirror["ports"]] == [8091]
    for probe in ("readinessProbe", "livenessProbe"):
        assert mirror[probe]["httpGet"] == {"path": "/metrics", "port": "mirror-metrics"}
    assert "--exclude 'capture.sqlite*' --exclude '*.tmp-*' /capture \"platform/$S3_BUCKET/$S3_PREFIX\"" in script
    mounts = {m["mountPath"]: m for m in mirror["volumeMounts"]}
    assert mounts["/capture"]["name"] == "capture"
    assert mounts["/etc/minio-credentials"] == {
        "name": "minio-credentials",
        "mountPath": "/etc/minio-credentials",
        "readOnly": True,
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["minio-credentials"]["secret"]["secretName"] == "minio-credentials"
    assert volumes[mounts["/tmp"]["name"]]["emptyDir"]
    assert mirror["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_mirror_needs_the_capture():
    chart = ENV_CHARTS[0]
    values = _with_object_store(chart)
    values["capture"]["enabled"] = False
    with pytest.raises(Exception, match="set capture.enabled too"):
        t.render_chart(chart, values, c.chart_namespace(chart))


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("image", "docker.io/minio/mc:latest"),
        ("image", "docker.io/minio/mc"),
        ("bucket", "Gourmetgram_Capture"),
        ("endpoint", "minio:9000"),
        ("snapshotSeconds", 0),
        ("credentials", ""),
        ("enabled", "true"),
    ],
)
def test_the_schema_refuses_a_bad_object_store_entry(key, bad):
    chart = ENV_CHARTS[0]
    with helm.Chart.load(chart) as loaded:
        loaded.validate_schema(_with_object_store(chart))
        with pytest.raises(helm.HelmValuesError, match=key):
            loaded.validate_schema(_with_object_store(chart, **{key: bad}))


def test_the_platform_makes_the_capture_bucket(rendered):
    platform = _platform_values()
    (job,) = [d for d in rendered["platform"] if d["kind"] == "Job" and d["metadata"]["name"] == "minio-create-bucket"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f'mc mb --ignore-existing "platform/{platform["minio"]["captureBucket"]}"' in script
    assert f'mc mb --ignore-existing "platform/{platform["mlflow"]["bucket"]}"' in script
