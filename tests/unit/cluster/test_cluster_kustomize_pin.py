"""ansible/tasks/kustomize_pin.yml, run for real (ansible-playbook on localhost, kubectl kustomize).

The input is an excerpt of Argo Workflows' quick-start-minimal.yaml at the pinned commit (its
`:latest` images, the demo's untagged httpbin); the pins come from ansible/vars/versions.yml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TASKS = REPO_ROOT / "ansible/tasks/kustomize_pin.yml"
EXCERPT = Path(__file__).parent / "fixtures/argo-quick-start-excerpt.yaml"
VERSIONS = yaml.safe_load((REPO_ROOT / "ansible/vars/versions.yml").read_text())

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its kustomize) is not installed")


def run_pin(tmp_path: Path, manifest: str, entry: dict) -> subprocess.CompletedProcess:
    kdir = tmp_path / "argo_workflows.yaml.d"
    kdir.mkdir()
    (kdir / "upstream.yaml").write_text(manifest)
    playbook = [
        {
            "name": "kustomize pin",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"gg_downloads": {"argo_workflows": entry}},
            "tasks": [
                {
                    "ansible.builtin.include_tasks": str(TASKS),
                    "vars": {
                        "download_name": "argo_workflows",
                        "kustomize_dir": str(kdir),
                        "dest": str(tmp_path / "pinned.yaml"),
                    },
                }
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(playbook))
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / ".ansible"), "ANSIBLE_NOCOLOR": "1"}
    bindir = Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(path)],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def _images(docs: list[dict]) -> set[str]:
    return {c["image"] for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]}


def test_the_pinned_argo_workflows_manifest_has_no_floating_image(tmp_path):
    entry = VERSIONS["gg_downloads"]["argo_workflows"]
    result = run_pin(tmp_path, EXCERPT.read_text(), entry)
    assert result.returncode == 0, result.stdout + result.stderr
    docs = [d for d in yaml.safe_load_all((tmp_path / "pinned.yaml").read_text()) if d]
    version = entry["version"]
    assert _images(docs) == {
        f"quay.io/argoproj/argocli:{version}",
        f"quay.io/argoproj/workflow-controller:{version}",
        "minio/minio:RELEASE.2022-11-17T23-20-09Z",
    }
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "httpbin") not in kinds and ("Service", "httpbin") not in kinds
    (controller,) = [d for d in docs if d["metadata"]["name"] == "workflow-controller" and d["kind"] == "Deployment"]
    assert controller["spec"]["template"]["spec"]["containers"][0]["args"] == [
        f"--executor-image=quay.io/argoproj/argoexec:{version}"
    ]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert "images" not in config["data"] and "executor" in config["data"]
    assert "latest" not in (tmp_path / "pinned.yaml").read_text()


def test_a_floating_image_left_in_the_manifest_is_refused(tmp_path):
    entry = dict(VERSIONS["gg_downloads"]["argo_workflows"])
    entry["pin_images"] = ["quay.io/argoproj/argocli"]  # the controller stays :latest
    result = run_pin(tmp_path, EXCERPT.read_text(), entry)
    assert result.returncode != 0
    assert "quay.io/argoproj/workflow-controller:latest" in result.stdout


def test_an_untagged_image_is_refused(tmp_path):
    entry = dict(VERSIONS["gg_downloads"]["argo_workflows"])
    entry["drop"] = [{"apiVersion": "v1", "kind": "Service", "name": "httpbin"}]  # httpbin's Deployment stays
    result = run_pin(tmp_path, EXCERPT.read_text(), entry)
    assert result.returncode != 0
    assert "kong/httpbin" in result.stdout
