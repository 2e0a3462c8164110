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
