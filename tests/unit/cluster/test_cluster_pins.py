"""Pins of the cluster path: one place each, consistent with the submodule and Terraform rules."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from gourmetgram.cluster.settings import REPO_ROOT

VERSIONS = yaml.safe_load((REPO_ROOT / "ansible/vars/versions.yml").read_text())


def test_kubespray_gitlink_is_the_pinned_commit():
    out = subprocess.run(
        ["git", "ls-files", "-s", "ansible/k8s/kubespray"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "160000", "ansible/k8s/kubespray must be a submodule (gitlink)"
    assert out[1] == VERSIONS["kubespray_commit"]
    gitmodules = (REPO_ROOT / ".gitmodules").read_text()
    assert "url = https://github.com/kubernetes-sigs/kubespray.git" in gitmodules
    assert f"branch = {VERSIONS['kubespray_ref']}" in gitmodules


def test_versions_are_pinned_exactly():
    assert re.fullmatch(r"v\d+\.\d+\.\d+", VERSIONS["kube_version"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+", VERSIONS["argocd_version"])
    downloads = VERSIONS["gg_downloads"]
    assert {k: v["version"] for k, v in downloads.items() if k != "argocd_cli"} == {
        "argo_workflows": "v3.6.5",
        "argo_events": "v1.9.6",
        **{name: VERSIONS["gg_gateway_api_version"] for name in VERSIONS["gg_gateway_api_crds"]},
    }
    # The Gateway API CRDs are the five standard ones, each pinned by its own sha256.
    assert [n.removeprefix("gateway_api_crd_") for n in VERSIONS["gg_gateway_api_crds"]] == [
        "gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants"
    ]  # fmt: skip
    for name in VERSIONS["gg_gateway_api_crds"]:
        assert re.fullmatch(r"[0-9a-f]{64}", downloads[name]["sha256"]), name
    for name, d in downloads.items():
        assert "latest" not in d["url"], name
        # The URL names the version (directly or through the Kubespray-shared argocd_version),
        # or the release's commit (a raw file at a commit is immutable).
        assert (
            d["version"] in d["url"] or "{{ argocd_version }}" in d["url"] or re.search(r"/[0-9a-f]{40}/", d["url"])
        ), name
        # A checksum is either a real sha256 or empty (then the playbook refuses the download,
        # unless the publisher's checksum file is named: an https URL of the same release).
        assert d["sha256"] == "" or re.fullmatch(r"[0-9a-f]{64}", d["sha256"]), name
        if "sha256_url" in d:
            assert d["sha256_url"].startswith("https://"), name
            assert d["url"].rsplit("/", 1)[0] == d["sha256_url"].rsplit("/", 1)[0], name


def test_kubespray_group_vars_do_not_repeat_the_pins():
    group_vars = (REPO_ROOT / "ansible/k8s/inventory/mycluster/group_vars/all.yaml").read_text()
    settings = yaml.safe_load(group_vars)
    assert "kube_version" not in settings and "argocd_version" not in settings
    assert settings["container_manager"] == "docker"
    for addon in ("dashboard_enabled", "helm_enabled", "registry_enabled", "metrics_server_enabled",
                  "local_path_provisioner_enabled", "argocd_enabled"):  # fmt: skip
        assert settings[addon] is True, addon


def test_terraform_provider_is_pinned_exactly():
    versions_tf = (REPO_ROOT / "tf/kvm/versions.tf").read_text()
    assert 'source  = "terraform-provider-openstack/openstack"' in versions_tf
    assert re.search(r'version = "\d+\.\d+\.\d+"', versions_tf)


@pytest.fixture(scope="module")
def tf_variables_only(tmp_path_factory):
    """tf/kvm/variables.tf alone: terraform plans it offline (no provider needed)."""
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    workdir = tmp_path_factory.mktemp("tfvars")
    shutil.copy(REPO_ROOT / "tf/kvm/variables.tf", workdir / "variables.tf")
    subprocess.run(["terraform", "init", "-input=false"], cwd=workdir, capture_output=True, check=True, env=_tf_env())
    return workdir


def _tf_env():
    import os

    return {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "NO_COLOR": "1"}


def _plan(workdir, **tf_vars):
    args = ["terraform", "plan", "-input=false", "-no-color"]
    for k, v in tf_vars.items():
        args += ["-var", f"{k}={v}"]
    return subprocess.run(args, cwd=workdir, capture_output=True, text=True, env=_tf_env())


def test_terraform_accepts_good_variables(tf_variables_only):
    assert _plan(tf_variables_only, suffix="abc123", reservation="4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f").returncode == 0


@pytest.mark.parametrize(
    "tf_vars, message",
    [
        ({"suffix": "", "reservation": "4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f"}, "The suffix must be non-empty"),
        ({"suffix": "abc123", "reservation": "m1.large"}, "The reservation must be the lease's flavor ID"),
        ({"suffix": "abc123", "reservation": "4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f", "key": " "}, "key pair name"),
    ],
)
def test_terraform_rejects_bad_variables(tf_variables_only, tf_vars, message):
    result = _plan(tf_variables_only, **tf_vars)
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split())
