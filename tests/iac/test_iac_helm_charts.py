"""Helm charts: rendered by Helm's own engine with the values the lab passes, then checked by
helm lint --strict, kubernetes-validate --strict (Kubespray's Kubernetes version) and the
Gateway API CRD schemas; the schema must reject a missing externalIP."""

from __future__ import annotations

import copy

import helm_python as helm
import iac_tools as t
import iac_values as c
import pytest

CHARTS = [p for p in t.charts() if (p / "values.yaml").exists()]
IDS = [p.name for p in CHARTS]


def test_every_environment_and_the_platform_has_a_chart():
    assert sorted(IDS) == sorted([*c.names.ENVIRONMENTS, c.names.PLATFORM])


@pytest.mark.parametrize("chart", CHARTS, ids=IDS)
def test_chart_renders_with_deploy_values(chart, rendered):
    docs = rendered[chart.name]
    assert docs, f"{t.rel(chart)} rendered no objects"
    namespaced = [d for d in docs if d["kind"] not in ("GatewayClass", "ClusterRole", "ClusterRoleBinding")]
    # The platform chart also creates the workflows' service account in the Argo namespace (values: workflows).
    workflows = t.yaml.safe_load((chart / "values.yaml").read_text()).get("workflows") or {}
    allowed = {c.chart_namespace(chart), workflows.get("namespace")}
    wrong = [f"{d['kind']}/{d['metadata'].get('name')}" for d in namespaced
             if d["metadata"].get("namespace") not in allowed]  # fmt: skip
    assert not wrong, f"objects outside {c.chart_namespace(chart)}: {wrong}"


@pytest.mark.parametrize("chart", CHARTS, ids=IDS)
def test_rendered_objects_pass_kubernetes_validate_strict(chart, rendered, rendered_defaults, schema_version):
    findings = t.kube_validate(rendered[chart.name], schema_version)
    findings += t.kube_validate(rendered_defaults[chart.name], schema_version)
    assert findings == []


@pytest.mark.parametrize("chart", CHARTS, ids=IDS)
def test_gateway_api_objects_match_the_crd_schemas(chart, rendered):
    assert t.gateway_validate(rendered[chart.name]) == []


def test_gateway_schemas_are_found():
    schemas = t.gateway_schemas()
    assert ("gateway.networking.k8s.io/v1", "HTTPRoute") in schemas
    assert ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant") in schemas


@pytest.mark.parametrize("chart", CHARTS, ids=IDS)
def test_helm_lint_strict(chart, kube_version):
    lab_values = c.deploy_values(chart)
    defaults_and_ip = {k: v for k, v in lab_values.items() if k != "image"}  # no image tag: the chart's default
    assert t.helm_lint(chart, lab_values, kube_version) == []
    assert t.helm_lint(chart, defaults_and_ip, kube_version) == []


def _without_external_ips(values):
    out = copy.deepcopy(values)
    for section in out.values():
        if isinstance(section, dict):
            section.pop("externalIP", None)
    return out


@pytest.mark.parametrize("chart", CHARTS, ids=IDS)
def test_schema_rejects_a_missing_external_ip(chart):
    values = c.deploy_values(chart)
    sections = [k for k, v in values.items() if isinstance(v, dict) and "externalIP" in v]
    assert sections, f"the playbook for {chart.name} passes no externalIP"
    with helm.Chart.load(chart) as loaded:
        loaded.validate_schema(values)  # the lab's values pass
        for section in sections:
            broken = copy.deepcopy(values)
            del broken[section]["externalIP"]
            with pytest.raises(helm.HelmValuesError, match="externalIP"):
                loaded.validate_schema(broken)
        # ...and the chart's defaults alone (no externalIP given) are refused, not rendered.
        with pytest.raises(helm.HelmValuesError, match="externalIP"):
            loaded.validate_schema(_without_external_ips(values))


@pytest.mark.parametrize(
    "key, bad",
    [("minLabels", None), ("minLabels", 0), ("minLabels", 2.5), ("maxAccuracyDrop", None), ("maxAccuracyDrop", 1.5)],
)
def test_platform_schema_refuses_bad_accuracy_check_values(key, bad):
    """The canary analysis' online-accuracy thresholds (canary.checks): required (None = Helm's way to
    delete a default), labels a positive integer, the accuracy drop within 0..1."""
    (chart,) = [p for p in CHARTS if p.name == "platform"]
    values = c.deploy_values(chart)
    with helm.Chart.load(chart) as loaded:
        loaded.validate_schema(values)  # the lab's values, with the chart's defaults, pass
        broken = copy.deepcopy(values)
        broken.setdefault("canary", {}).setdefault("checks", {})[key] = bad
        with pytest.raises(helm.HelmValuesError, match=key):
            loaded.validate_schema(broken)
