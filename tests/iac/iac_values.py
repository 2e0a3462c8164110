"""The values the lab passes to the charts, read from the playbooks and workflows themselves."""

from __future__ import annotations

import re
from pathlib import Path

import iac_tools as t
import yaml

from gourmetgram import names

EXAMPLE_EXTERNAL_IP = "10.56.0.42"
EXAMPLE_VERSION = 7


def kubespray_kube_version() -> str:
    """The Kubernetes version Kubespray installs: kube_version where the cluster path records it
    (ansible/vars/versions.yml, or the Kubespray inventory's group_vars)."""
    candidates = [t.REPO / "ansible" / "vars" / "versions.yml"]
    candidates += sorted((t.REPO / "ansible" / "k8s" / "inventory").rglob("*.y*ml"))
    for path in candidates:
        if not path.exists():
            continue
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data, dict) and data.get("kube_version"):
            version = str(data["kube_version"]).lstrip("v")
            if not re.fullmatch(r"\d+\.\d+\.\d+", version):
                raise ValueError(f"{t.rel(path)}: kube_version {version!r} is not X.Y.Z")
            return version
    raise FileNotFoundError(
        "kube_version not found in ansible/vars/versions.yml or ansible/k8s/inventory/: "
        "record the Kubernetes version Kubespray installs there"
    )


def chart_env(chart: Path) -> str:
    return chart.name


def chart_namespace(chart: Path) -> str:
    return names.namespace(chart_env(chart))


def deploy_values(chart: Path) -> dict:
    """The values the lab passes: the Argo CD app's helm parameters set by the ansible/argocd playbook
    (externalIP = the node's address), and for app charts the image tag the deploy workflow sets."""
    import helm_python as helm

    values: dict = {}
    for key, value in argocd_helm_parameters(chart_env(chart)).items():
        _merge(values, helm.parse_set_string_values(f"{key}={value}"))
    if chart_env(chart) in names.ENVIRONMENTS:
        _merge(values, helm.parse_set_string_values(deploy_workflow_set_string(chart_env(chart))))
    return values


def _merge(into: dict, other: dict) -> None:
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _substitute(text: str, env: str) -> str:
    """Fill Jinja/Argo placeholders with example values (external IP, version, environment)."""
    text = re.sub(r"\{\{[^}]*(?:ip|IP|address)[^}]*\}\}", EXAMPLE_EXTERNAL_IP, text)
    text = re.sub(r"\{\{[^}]*(?:environment|env)[^}]*\}\}", env, text)
    text = re.sub(r"\{\{[^}]*version[^}]*\}\}", str(EXAMPLE_VERSION), text)
    return text


def argocd_playbook(env: str) -> Path:
    """The playbook `invoke argocd.add --env <env>` runs (gourmetgram/cluster/playbooks.py derives its name)."""
    from gourmetgram.cluster.playbooks import ARGOCD_PLAYBOOKS

    path = t.REPO / "ansible" / ARGOCD_PLAYBOOKS[env]
    if not path.exists():
        raise FileNotFoundError(f"no Argo CD playbook for {env}: {t.rel(path)}")
    return path


def _playbook_chain(entry: Path) -> list[Path]:
    """The playbook and every playbook/task file it imports or includes (relative paths), in order."""
    seen: list[Path] = []
    todo = [entry]
    while todo:
        path = todo.pop(0).resolve()
        if path in seen or not path.exists():
            continue
        seen.append(path)
        for _, key, value in t.walk(t.load_yaml_docs(path)):
            if key in (
                "import_playbook", "ansible.builtin.import_playbook", "include_tasks", "ansible.builtin.include_tasks",
                "import_tasks", "ansible.builtin.import_tasks",
            ) and isinstance(value, str) and "{{" not in value:  # fmt: skip
                todo.append(path.parent / value)
    return seen


def argocd_helm_parameters(env: str) -> dict[str, str]:
    """Helm parameters (dotted name -> value) the ansible/argocd play gives the Argo CD app of env.

    Read from the play itself: a `*_helm` mapping of dotted Helm names (what the play turns into
    `argocd app create --helm-set-string name=value`), or literal `--helm-set[-string] name=value`
    arguments; Jinja placeholders get example values (the node's external IP)."""
    params: dict[str, str] = {}
    for path in _playbook_chain(argocd_playbook(env)):
        for _, key, value in t.walk(t.load_yaml_docs(path)):
            if isinstance(key, str) and key.endswith("_helm") and isinstance(value, dict):
                params.update({str(k): str(v) for k, v in value.items()})
        text = path.read_text()
        params.update(dict(re.findall(r"--helm-set(?:-string)?[= ]['\"]?([\w.\[\]-]+)=([^\s'\"]+)", text)))
    return {k: _substitute(v, env) for k, v in params.items()}


def deploy_workflow_set_string(env: str) -> str:
    """The `--helm-set-string image.tag=...` expression of workflows/deploy-container-image.yaml, filled in."""
    text = (t.REPO / "workflows" / "deploy-container-image.yaml").read_text()
    m = re.search(r"--helm-set-string['\"]?,?\s*['\"]?\s*(image\.tag=[^\s'\"]+)", text)
    if not m:
        raise AssertionError("workflows/deploy-container-image.yaml: no `--helm-set-string image.tag=...` found")
    expr = m.group(1)
    expr = re.sub(r"\{\{[^}]*environment[^}]*\}\}", env, expr)
    expr = re.sub(r"\{\{[^}]*version[^}]*\}\}", str(EXAMPLE_VERSION), expr)
    return expr


def app_and_platform_charts() -> list[Path]:
    """The charts Argo CD deploys (k8s/app-common is only linked from the three environment charts)."""
    return [c for c in t.charts() if (c / "values.yaml").exists()]


def write_rendered(out: Path) -> Path:
    """Every chart rendered with the lab's values into out/<chart>/<template>.yaml (for yamllint and checkov)."""
    for chart in app_and_platform_charts():
        for name, text in t.rendered_text(chart, deploy_values(chart), chart_namespace(chart)).items():
            if name.endswith((".yaml", ".yml")) and text.strip():
                dst = out / chart.name / name.split("/", 1)[1].replace("/", "_")
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text)
    return out


def checkov_repo(rendered: Path) -> dict:
    """checkov on tf/kvm (terraform), the rendered charts (kubernetes), workflows/ (argo_workflows)
    and every repository file (secrets)."""
    dirs = {"terraform": t.REPO / "tf" / "kvm", "kubernetes": rendered, "argo_workflows": t.REPO / "workflows"}
    files = [p for p in t.repo_files() if p.stat().st_size < 1_000_000]
    return t.checkov(dirs, files=files)
