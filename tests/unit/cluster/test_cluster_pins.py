"""Pins of the cluster path: one place each, consistent with the submodule and Terraform rules."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from gourmetgram.paths import REPO_ROOT

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
        # Every download has a checksum: a real sha256, or (only where the publisher has one) its
        # checksum file, an https URL of the same release. An empty one would stop the playbook.
        if d["sha256"] == "":
            assert "sha256_url" in d, f"{name}: no sha256 and no publisher checksum file"
            assert d["sha256_url"].startswith("https://"), name
            assert d["url"].rsplit("/", 1)[0] == d["sha256_url"].rsplit("/", 1)[0], name
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", d["sha256"]), name
            assert "sha256_url" not in d, f"{name}: one checksum source, not two"


def test_the_argo_manifests_are_raw_files_at_the_release_commits():
    downloads = VERSIONS["gg_downloads"]
    commits = {"argo_workflows": "9e532061c064d1205610b1932a0fb3c4dc053421",
               "argo_events": "80f5951150be80996b63f7d84d092812d5ea73a3"}  # fmt: skip
    for name, commit in commits.items():
        assert downloads[name]["url"].startswith("https://raw.githubusercontent.com/argoproj/"), name
        assert f"/{commit}/manifests/" in downloads[name]["url"], name
    # At its commit the Argo Workflows manifest names :latest images: the playbook pins them (kustomize_pin.yml).
    assert set(downloads["argo_workflows"]["pin_images"]) == {
        "quay.io/argoproj/argocli", "quay.io/argoproj/workflow-controller"
    }  # fmt: skip


def _playbook_files():
    ansible = REPO_ROOT / "ansible"
    return [p for p in sorted(ansible.rglob("*.yml")) if "kubespray" not in p.relative_to(ansible).parts]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_every_playbook_download_goes_through_checked_download_with_a_checksum():
    """The one get_url is checked_download.yml's; every download_name a playbook passes is pinned."""
    downloads = VERSIONS["gg_downloads"]
    fetchers = (
        "get_url",
        "ansible.builtin.get_url",
        "uri",
        "ansible.builtin.uri",
        "unarchive",
        "ansible.builtin.unarchive",
    )
    used: set[str] = set()
    for path in _playbook_files():
        text = path.read_text()
        assert not re.search(r"\b(curl|wget)\b", text), f"{path}: downloads outside checked_download.yml"
        for node in _walk(yaml.safe_load(text)):
            for key in fetchers:
                if key in node:
                    assert path.name == "checked_download.yml", f"{path}: {key} outside checked_download.yml"
            name = node.get("download_name")
            if isinstance(name, str) and "{{" not in name:
                used.add(name)
            if "loop" in node and node.get("loop_control", {}).get("loop_var") == "download_name":
                loop = node["loop"]
                m = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", loop) if isinstance(loop, str) else None
                used.update(VERSIONS[m.group(1)] if m else loop)
            if "loop" in node and node.get("loop_control", {}).get("loop_var") == "gg_component":
                used.update(item["download_name"] for item in node["loop"])
    assert used >= {"argocd_cli", "argo_workflows", "argo_events", *VERSIONS["gg_gateway_api_crds"]}
    for name in used:
        entry = downloads[name]
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) or entry.get("sha256_url", "").startswith("https://"), (
            name
        )


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
