"""Each check catches a planted defect: a broken COPY of a real file (in tmp_path) goes through
the same check function the real-file tests use, and the defect must be reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import iac_tools as t
import pytest
import yaml

TF = t.REPO / "tf" / "kvm"


@pytest.fixture
def tf_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "kvm"
    shutil.copytree(TF, dst, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "clouds.yaml"))
    return dst


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{t.rel(path)} no longer contains {old!r}: update the planted defect"
    path.write_text(text.replace(old, new, 1))


# ---- terraform


def test_unformatted_tf_file_is_caught(tf_copy):
    assert t.terraform_fmt(tf_copy) == []
    (tf_copy / "extra.tf").write_text('locals {\nbadly_indented   =    "x"\n}\n')
    findings = t.terraform_fmt(tf_copy)
    assert len(findings) == 1 and "extra.tf" in findings[0]


def test_missing_security_group_port_is_caught(tf_copy):
    exposed = {80, 8000, 8080, 8081, 8082, 9001}
    assert t.secgroup_findings(tf_copy, exposed) == []
    _replace(tf_copy / "data.tf", '"allow-8081",', "")
    findings = t.secgroup_findings(tf_copy, exposed)
    assert findings and all("8081" in f for f in findings)


def test_undeclared_and_unused_variables_are_caught(tf_copy):
    _replace(tf_copy / "main.tf", "var.reservation", "var.reservaton")
    findings = t.terraform_variable_findings(tf_copy)
    assert any("var.reservaton is used but not declared" in f for f in findings)
    assert any("'reservation' is declared but never used" in f for f in findings)


def test_floating_ip_on_the_wrong_node_is_caught(tf_copy):
    assert t.terraform_structure_findings(tf_copy) == []
    _replace(tf_copy / "main.tf", 'sharednet1_ports["node1"]', 'sharednet1_ports["node2"]')
    assert any("floating IP" in f for f in t.terraform_structure_findings(tf_copy))


# ---- helm + kubernetes-validate + Gateway API


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "k8s"
    shutil.copytree(t.REPO / "k8s", dst, symlinks=True)
    return dst


def test_unknown_field_in_a_deployment_is_caught(k8s_copy, schema_version):
    values = {"service": {"externalIP": "10.56.0.42"}}
    chart = k8s_copy / "staging"
    assert t.kube_validate(t.render_chart(chart, values, "gourmetgram-staging"), schema_version) == []
    deployment = next(p for p in (chart / "templates").glob("*.yaml") if "kind: Deployment" in p.read_text())
    _replace(deployment, "\nspec:\n", "\nspec:\n  replicass: 2\n")
    findings = t.kube_validate(t.render_chart(chart, values, "gourmetgram-staging"), schema_version)
    assert len(findings) == 1 and "Deployment" in findings[0] and "replicass" in findings[0]


def test_wrong_field_in_a_gateway_api_object_is_caught(k8s_copy):
    chart = k8s_copy / "canary"
    values = {"service": {"externalIP": "10.56.0.42"}}
    assert t.gateway_validate(t.render_chart(chart, values, "gourmetgram-canary")) == []
    grant = next(p for p in (chart / "templates").glob("*.yaml") if "kind: ReferenceGrant" in p.read_text())
    _replace(grant, "  to:\n", "  too:\n")
    findings = t.gateway_validate(t.render_chart(chart, values, "gourmetgram-canary"))
    assert findings and all("ReferenceGrant" in f for f in findings)


# ---- argo


def _workflow_with(text: str) -> Path:
    for path in t.workflow_files():
        if text in path.read_text():
            return path
    raise AssertionError(f"no workflow in workflows/ contains {text!r}")


def test_misspelled_argo_field_is_caught(tmp_path):
    src = _workflow_with("entrypoint:")
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    shutil.copy(src, good)
    shutil.copy(src, bad)
    _replace(bad, "entrypoint:", "entrypont:")
    results = t.argo_strict([good, bad])
    assert results[str(good)] == []
    assert any("entrypont" in f and "Extra inputs are not permitted" in f for f in results[str(bad)])


def test_misspelled_field_in_an_embedded_workflow_manifest_is_caught(tmp_path):
    src = _workflow_with("manifest:")
    bad = tmp_path / "bad.yaml"
    shutil.copy(src, bad)
    text = bad.read_text()
    assert "workflowTemplateRef:" in text, f"{t.rel(src)}: expected an embedded Workflow with workflowTemplateRef"
    bad.write_text(text.replace("workflowTemplateRef:", "workflowTemplateRefs:", 1))
    findings = t.argo_strict([bad])[str(bad)]
    assert any("resource manifest" in f and "workflowTemplateRefs" in f for f in findings)


def test_dangling_workflow_template_ref_is_caught(tmp_path):
    copies = []
    for src in t.workflow_files():
        shutil.copy(src, tmp_path / src.name)
        copies.append(tmp_path / src.name)
    assert t.argo_crossref_findings(copies) == []
    cron = tmp_path / "cron-train.yaml"
    text = cron.read_text()
    name = t.load_yaml_docs(cron)[0]["spec"]["workflowSpec"]["workflowTemplateRef"]["name"]
    cron.write_text(text.replace(f"name: {name}", f"name: {name}-typo"))
    findings = t.argo_crossref_findings(copies)
    assert any(f"{name}-typo" in f and "is not a WorkflowTemplate" in f for f in findings)


def test_undeclared_argument_is_caught(tmp_path):
    copies = []
    for src in t.workflow_files():
        shutil.copy(src, tmp_path / src.name)
        copies.append(tmp_path / src.name)
    cron = tmp_path / "cron-train.yaml"
    doc = t.load_yaml_docs(cron)[0]
    doc["spec"]["workflowSpec"].setdefault("arguments", {}).setdefault("parameters", []).append(
        {"name": "brnach", "value": "mlops"}
    )
    cron.write_text(yaml.safe_dump(doc))
    assert any("'brnach'" in f for f in t.argo_crossref_findings(copies))


def test_unpinned_image_is_caught():
    doc = {"spec": {"templates": [{"container": {"image": "alpine/git:latest"}}, {"script": {"image": "python"}}]}}
    assert len(t.unpinned_images([("x", doc)])) == 2
    assert t.unpinned_images([("x", {"image": "docker.io/moby/buildkit:v0.20.2"})]) == []


# ---- ansible


def test_playbook_syntax_error_is_caught(tmp_path):
    src = t.REPO / "ansible" / "general" / "hello_host.yml"
    inv = tmp_path / "inventory.yml"
    inv.write_text("all:\n  hosts:\n    node1:\n      ansible_host: 192.168.1.11\n")
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    shutil.copy(src, good)
    shutil.copy(src, bad)
    assert t.ansible_syntax([good], inv) == {}
    _replace(bad, "tasks:", "taskz:")
    failures = t.ansible_syntax([good, bad], inv)
    assert list(failures) == [str(bad)] and "taskz" in failures[str(bad)]


def test_ansible_lint_catches_a_short_module_name(tmp_path):
    bad = tmp_path / "bad.yml"
    text = (t.REPO / "ansible" / "general" / "hello_host.yml").read_text()
    assert "ansible.builtin." in text
    bad.write_text(text.replace("ansible.builtin.", "", 1))
    report = t.ansible_lint([bad])
    assert any(f["check_name"].startswith("fqcn") for f in report), report


# ---- yaml, docker, secrets


def test_yamllint_catches_a_duplicate_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\na: 2\n")
    assert any("duplication of key" in f for f in t.yamllint([bad]))


def test_hadolint_catches_an_unpinned_base_image(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n")
    codes = " ".join(t.hadolint([bad]))
    assert "DL3007" in codes and "DL3013" in codes


def test_a_private_key_is_caught(tmp_path):
    bad = tmp_path / "id_rsa"
    # Assembled at run time, so that this file itself holds no key-shaped text for the scanners.
    begin, end = "-----BEGIN OPENSSH " + "PRIVATE KEY-----", "-----END OPENSSH " + "PRIVATE KEY-----"
    bad.write_text(f"{begin}\nb3BlbnNzaC1rZXktdjEAAAAA\n{end}\n")
    assert t.scan_secrets([bad]) == [f"{bad}:1: private key"]


def test_checkov_catches_a_privileged_container(tmp_path):
    import iac_values as v

    rendered = v.write_rendered(tmp_path / "rendered")
    deployment = rendered / "staging" / "templates_deployment.yaml"
    _replace(deployment, "privileged: false", "privileged: true")
    result = t.checkov({"kubernetes": rendered / "staging"})
    assert {check for _, check, _, _ in result["failed"]} >= {"CKV_K8S_16"}
