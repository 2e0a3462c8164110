"""The platform chart's rendered Alertmanager and Prometheus configs pass the pinned tools' own checks.

The local platform runs files/alertmanager/alertmanager.yml with its own webhook URL; the cluster runs
what the chart renders (the Argo Events EventSource's URL in its place, the `alerting:` block of
_prometheus.tpl). Alertmanager and Prometheus refuse to start on a config their tools refuse, so the
rendered text is checked with amtool and promtool of the chart's image versions (Debian's
prometheus-alertmanager 0.25.0 and prometheus 2.42.0, ./lab's APT_PACKAGES).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT

VALUES = yaml.safe_load((REPO_ROOT / "k8s" / names.PLATFORM / "values.yaml").read_text())


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: `./lab setup` installs it (APT_PACKAGES)")
    return found


def _configmap(docs: list[dict], name: str) -> dict:
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    return cm["data"]


@pytest.mark.parametrize(("tool", "component"), [("amtool", "alertmanager"), ("promtool", "prometheus")])
def test_the_checking_tool_is_the_version_the_chart_runs(tool, component):
    out = subprocess.run([_tool(tool), "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"version (\d+\.\d+\.\d+)", out.stdout + out.stderr)
    image_tag = VALUES[component]["image"].rsplit(":", 1)[1]
    assert found and f"v{found.group(1)}" == image_tag, (tool, found and found.group(1), image_tag)


def test_rendered_alertmanager_config_passes_amtool_and_posts_to_the_eventsource(rendered, tmp_path):
    docs = rendered[names.PLATFORM]
    text = _configmap(docs, "alertmanager-config")["alertmanager.yml"]
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    out = subprocess.run([_tool("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # The retrain receiver posts to the Service Argo Events v1.9.6 makes for this EventSource
    # (pkg/reconciler/eventsource/resource.go: <name>-eventsource-svc) on its webhook's port and endpoint.
    (source,) = [d for d in docs if d["kind"] == "EventSource"]
    hook = source["spec"]["webhook"]["retrain"]
    namespace = source["metadata"]["namespace"]
    url = f"http://{source['metadata']['name']}-eventsource-svc.{namespace}.svc:{hook['port']}{hook['endpoint']}"
    config = yaml.safe_load(text)
    (receiver,) = [r for r in config["receivers"] if r["name"] == "retrain"]
    assert [w["url"] for w in receiver["webhook_configs"]] == [url]
    assert str(source["spec"]["service"]["ports"][0]["port"]) == hook["port"]


def test_rendered_prometheus_config_passes_promtool_and_alerts_the_platforms_alertmanager(rendered, tmp_path):
    docs = rendered[names.PLATFORM]
    text = _configmap(docs, "prometheus-config")["prometheus.yml"]
    config = yaml.safe_load(text)
    # Debian builds Prometheus without Kubernetes service discovery, so its promtool refuses every
    # kubernetes_sd_configs block: those scrape jobs are left out of what it checks (the rest is checked
    # as rendered). --syntax-only: the rule files are mounted at /etc/prometheus/rules on the pod
    # (promtool check rules covers them: tests/unit/canary, tests/unit/drift).
    checked = {**config, "scrape_configs": [j for j in config["scrape_configs"] if "kubernetes_sd_configs" not in j]}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(checked))
    out = subprocess.run(
        [_tool("promtool"), "check", "config", "--syntax-only", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (service,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "alertmanager"]
    port = service["spec"]["ports"][0]["port"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"alertmanager.{service['metadata']['namespace']}.svc:{port}"]
    rules = _configmap(docs, "prometheus-rules")
    assert {p.rsplit("/", 1)[1] for p in config["rule_files"]} == set(rules)
