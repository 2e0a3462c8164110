"""The cluster's retraining path in the platform chart: Prometheus -> Alertmanager -> Argo Events -> train-model.

Argo Events' CRDs carry no schema, so the fields used here are checked against the
v1.9.6 types (the version ansible/vars/versions.yml installs), written down below from
pkg/apis/events/v1alpha1/{sensor,eventsource,jetstream_eventbus,webhook_context}.go at that tag:
a misspelled field would otherwise be dropped silently by the API server.
"""

from __future__ import annotations

import re

import pytest
import yaml

from gourmetgram import values
from gourmetgram.local import alerting
from gourmetgram.local.retrain_hook import parse_duration

# Allowed keys per object path (v1.9.6). "*" = a map whose keys are names chosen by the user.
ARGO_EVENTS_FIELDS = {
    ("EventBus", "spec"): {"nats", "jetstream", "kafka", "jetstreamExotic"},
    ("EventBus", "spec.jetstream"): {
        "version",
        "replicas",
        "containerTemplate",
        "reloaderContainerTemplate",
        "metricsContainerTemplate",
        "persistence",
        "metadata",
        "nodeSelector",
        "tolerations",
        "securityContext",
        "imagePullSecrets",
        "priorityClassName",
        "priority",
        "affinity",
        "serviceAccountName",
        "settings",
        "startArgs",
        "streamConfig",
        "maxPayload",
    },  # fmt: skip
    ("EventSource", "spec"): {"eventBusName", "template", "service", "replicas", "webhook"},  # (and other sources)
    ("EventSource", "spec.service"): {"metadata", "ports", "clusterIP"},
    ("EventSource", "spec.webhook.*"): {
        "endpoint",
        "method",
        "port",
        "url",
        "serverCertSecret",
        "serverKeySecret",
        "metadata",
        "authSecret",
        "maxPayloadSize",
        "filter",
    },  # fmt: skip
    ("Sensor", "spec"): {
        "dependencies",
        "triggers",
        "template",
        "errorOnFailedRound",
        "eventBusName",
        "replicas",
        "revisionHistoryLimit",
        "loggingFields",
    },  # fmt: skip
    ("Sensor", "spec.template"): {
        "metadata",
        "serviceAccountName",
        "container",
        "volumes",
        "securityContext",
        "nodeSelector",
        "tolerations",
        "imagePullSecrets",
        "priorityClassName",
        "priority",
        "affinity",
    },  # fmt: skip
    ("Sensor", "spec.dependencies[]"): {
        "name",
        "eventSourceName",
        "eventName",
        "filters",
        "transform",
        "filtersLogicalOperator",
    },  # fmt: skip
    ("Sensor", "spec.dependencies[].filters"): {
        "time",
        "context",
        "data",
        "exprs",
        "dataLogicalOperator",
        "exprLogicalOperator",
        "script",
    },  # fmt: skip
    ("Sensor", "spec.dependencies[].filters.data[]"): {"path", "type", "value", "comparator", "template"},
    ("Sensor", "spec.triggers[]"): {
        "template",
        "parameters",
        "policy",
        "retryStrategy",
        "rateLimit",
        "atLeastOnce",
        "dlqTrigger",
    },  # fmt: skip
    ("Sensor", "spec.triggers[].template"): {
        "name",
        "conditions",
        "k8s",
        "argoWorkflow",
        "http",
        "awsLambda",
        "custom",
        "kafka",
        "nats",
        "slack",
        "openWhisk",
        "log",
        "azureEventHubs",
        "pulsar",
        "conditionsReset",
        "azureServiceBus",
        "email",
    },  # fmt: skip
    ("Sensor", "spec.triggers[].template.argoWorkflow"): {"source", "operation", "parameters", "args"},
    ("Sensor", "spec.triggers[].template.argoWorkflow.source"): {
        "s3",
        "inline",
        "file",
        "url",
        "configmap",
        "git",
        "resource",
    },  # fmt: skip
    ("Sensor", "spec.triggers[].template.argoWorkflow.parameters[]"): {"src", "dest", "operation"},
    ("Sensor", "spec.triggers[].template.argoWorkflow.parameters[].src"): {
        "dependencyName",
        "contextKey",
        "contextTemplate",
        "dataKey",
        "dataTemplate",
        "value",
        "useRawData",
    },  # fmt: skip
}
ARGO_WORKFLOW_OPERATIONS = {"submit", "submit-from", "suspend", "resubmit", "retry", "resume", "terminate", "stop"}
# The JetStream versions the v1.9.6 controller ConfigMap (manifests/install.yaml) lists.
JETSTREAM_VERSIONS = {
    "latest",
    "2.8.1",
    "2.8.1-alpine",
    "2.8.2",
    "2.8.2-alpine",
    "2.9.1",
    "2.9.12",
    "2.9.16",
    "2.10.10",
}


def _walk(kind: str, path: str, node):
    """Yield (path, unknown keys) for every checked mapping under node."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(kind, path + "[]", item)
        return
    if not isinstance(node, dict):
        return
    allowed = ARGO_EVENTS_FIELDS.get((kind, path))
    if allowed is not None:
        yield path, set(node) - allowed
    for key, value in node.items():
        child = f"{path}.{key}"
        if (kind, f"{path}.*") in ARGO_EVENTS_FIELDS:
            child = f"{path}.*"
        if (kind, child) in ARGO_EVENTS_FIELDS or any(p.startswith(child) for k, p in ARGO_EVENTS_FIELDS if k == kind):
            yield from _walk(kind, child, value)


@pytest.fixture(scope="module")
def platform(rendered) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in rendered["platform"]}


@pytest.mark.parametrize("kind", ["EventBus", "EventSource", "Sensor"])
def test_argo_events_objects_use_only_fields_of_the_pinned_version(platform, kind):
    (doc,) = [d for (k, _), d in platform.items() if k == kind]
    assert doc["apiVersion"] == "argoproj.io/v1alpha1"
    checked = list(_walk(kind, "spec", doc["spec"]))
    assert checked
    for path, unknown in checked:
        assert not unknown, f"{kind} {path}: {sorted(unknown)} are not fields of Argo Events v1.9.6"


def test_the_pinned_argo_events_is_the_one_checked_here():
    versions = yaml.safe_load((values.REPO_ROOT / "ansible" / "vars" / "versions.yml").read_text())
    assert versions["gg_downloads"]["argo_events"]["version"] == "v1.9.6"


def test_event_bus_is_a_valid_one_replica_jetstream(platform):
    js = platform[("EventBus", "default")]["spec"]["jetstream"]
    assert js["version"] in JETSTREAM_VERSIONS and js["version"] != "latest"
    assert js["replicas"] == 1  # the controller accepts 1 or >= 3
    assert yaml.safe_load(js["streamConfig"])["replicas"] == 1


def test_alertmanager_posts_to_the_event_source_and_the_sensor_listens_to_it(platform):
    r = values.retrain_values()
    source = platform[("EventSource", "alertmanager")]
    ((event_name, hook),) = source["spec"]["webhook"].items()
    assert hook == {"port": str(r["webhookPort"]), "endpoint": r["webhookPath"], "method": "POST"}
    assert source["spec"]["service"]["ports"] == [{"port": r["webhookPort"], "targetPort": r["webhookPort"]}]
    am = yaml.safe_load(platform[("ConfigMap", "alertmanager-config")]["data"]["alertmanager.yml"])
    (receiver,) = [x for x in am["receivers"] if x["name"] == "retrain"]
    namespace = values.chart_values("platform")["namespace"]
    # The controller names the EventSource's Service <name>-eventsource-svc (reconciler/eventsource/resource.go).
    url = f"http://alertmanager-eventsource-svc.{namespace}.svc:{r['webhookPort']}{r['webhookPath']}"
    assert receiver["webhook_configs"][0]["url"] == url
    # The rest is the one routing file the local platform uses too.
    assert am["route"] == alerting.alertmanager_config(_settings())["route"]
    sensor = platform[("Sensor", "retrain")]["spec"]
    (dep,) = sensor["dependencies"]
    assert (dep["eventSourceName"], dep["eventName"]) == ("alertmanager", event_name)


def _settings():
    from gourmetgram.local.state import Ports, Settings

    return Settings(host="127.0.0.1", ports=Ports.defaults())


def test_the_sensor_submits_train_model_with_the_alert_reason_once_per_cooldown(platform):
    wf_values = values.chart_values("platform")["workflows"]
    sensor = platform[("Sensor", "retrain")]["spec"]
    assert sensor["template"]["serviceAccountName"] == "gourmetgram-retrain-sensor"
    (trigger,) = sensor["triggers"]
    argo = trigger["template"]["argoWorkflow"]
    assert argo["operation"] in ARGO_WORKFLOW_OPERATIONS and argo["operation"] == "submit"
    wf = argo["source"]["resource"]
    assert wf["kind"] == "Workflow" and wf["metadata"]["namespace"] == wf_values["namespace"]
    template = yaml.safe_load((values.REPO_ROOT / "workflows" / "train-model.yaml").read_text())
    assert wf["spec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    params = {p["name"] for p in template["spec"]["arguments"]["parameters"]}
    assert [p["name"] for p in wf["spec"]["arguments"]["parameters"]] == ["reason"] and "reason" in params
    by_dest = {p["dest"]: p["src"] for p in argo["parameters"]}
    assert by_dest["spec.arguments.parameters.0.value"]["dataKey"] == "body.alerts.0.annotations.reason"
    name = by_dest["metadata.name"]["dataTemplate"]
    (seconds,) = re.fullmatch(r"train-model-alert-\{\{ div \(now \| unixEpoch\) (\d+) \}\}", name).groups()
    assert int(seconds) == parse_duration(values.retrain_cooldown())
    # train-model's deadline is shorter than the cool-down: two alert-started trainings never overlap in one period.
    assert template["spec"]["activeDeadlineSeconds"] < int(seconds)


def test_the_sensor_may_create_workflows_in_the_workflows_namespace_only(platform):
    wf_ns = values.chart_values("platform")["workflows"]["namespace"]
    role = platform[("Role", "gourmetgram-retrain-sensor")]
    assert role["metadata"]["namespace"] == wf_ns
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"workflows", "workflowtemplates"}
    assert "delete" not in {v for rule in role["rules"] for v in rule["verbs"]}


def test_prometheus_loads_the_retrain_alerts_and_sends_them_to_the_alertmanager(platform):
    conf = yaml.safe_load(platform[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    assert "/etc/prometheus/rules/retrain-alerts.yml" in conf["rule_files"]
    (target,) = conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target.endswith(f":{values.alertmanager_port()}") and target.startswith("alertmanager.")
    rules = platform[("ConfigMap", "prometheus-rules")]["data"]["retrain-alerts.yml"]
    assert rules.strip() == alerting.RULES_FILE.read_text().strip()


def test_the_alertmanager_image_is_the_version_the_local_platform_runs(platform):
    """The chart's Alertmanager and Debian 12's prometheus-alertmanager are both 0.25.0."""
    (container,) = platform[("Deployment", "alertmanager")]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == values.chart_values("platform")["alertmanager"]["image"]
    assert container["image"].endswith(":v0.25.0")
    assert "--cluster.listen-address=" in container["args"]
