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

from gourmetgram.paths import REPO_ROOT

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
    assert _images(docs) == {f"quay.io/argoproj/argocli:{version}", f"quay.io/argoproj/workflow-controller:{version}"}
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "httpbin") not in kinds and ("Service", "httpbin") not in kinds
    (controller,) = [d for d in docs if d["metadata"]["name"] == "workflow-controller" and d["kind"] == "Deployment"]
    assert controller["spec"]["template"]["spec"]["containers"][0]["args"] == [
        f"--executor-image=quay.io/argoproj/argoexec:{version}"
    ]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert "images" not in config["data"] and "executor" in config["data"]
    assert "latest" not in (tmp_path / "pinned.yaml").read_text()


def _pinned(tmp_path: Path) -> list[dict]:
    result = run_pin(tmp_path, EXCERPT.read_text(), VERSIONS["gg_downloads"]["argo_workflows"])
    assert result.returncode == 0, result.stdout + result.stderr
    return [d for d in yaml.safe_load_all((tmp_path / "pinned.yaml").read_text()) if d]


def test_argo_server_runs_in_client_auth_mode_only(tmp_path):
    upstream = next(d for d in yaml.safe_load_all(EXCERPT.read_text()) if d and d["metadata"]["name"] == "argo-server")
    assert (
        upstream["spec"]["template"]["spec"]["containers"][0]["args"].count("server") == 2
    )  # the fixture is upstream's
    (server,) = [d for d in _pinned(tmp_path) if d["kind"] == "Deployment" and d["metadata"]["name"] == "argo-server"]
    (container,) = server["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["server", "--auth-mode=client"]
    # Everything else of upstream's container is kept.
    assert (
        container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS" and container["ports"][0]["containerPort"] == 2746
    )


def test_changed_upstream_server_args_stop_the_pin(tmp_path):
    # A new upstream argument (or auth mode) must not be silently replaced away: kustomize's JSON-patch test fails.
    args = "        - --auth-mode\n        - client\n"
    manifest = EXCERPT.read_text().replace(args, args + "        - --x-frame-options=DENY\n")
    assert manifest != EXCERPT.read_text()
    result = run_pin(tmp_path, manifest, VERSIONS["gg_downloads"]["argo_workflows"])
    assert result.returncode != 0
    assert "args failed: test failed" in result.stdout


def test_the_demo_minio_and_its_artifact_repositories_are_dropped(tmp_path):
    assert "minio/minio:RELEASE.2022-11-17T23-20-09Z" in EXCERPT.read_text()  # upstream installs it
    docs = _pinned(tmp_path)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for gone in [("Deployment", "minio"), ("Service", "minio"), ("Secret", "my-minio-cred"),
                 ("ConfigMap", "artifact-repositories")]:  # fmt: skip
        assert gone not in kinds
    text = (tmp_path / "pinned.yaml").read_text()
    assert "minio" not in text and "my-minio-cred" not in text and "archiveLogs" not in text
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert "artifactRepository" not in config["data"]


def test_retention_policy_does_not_outrun_the_workflows_ttl(tmp_path):
    assert "retentionPolicy" in EXCERPT.read_text()  # upstream: completed 10, failed 3, errored 3
    (config,) = [d for d in _pinned(tmp_path) if d["kind"] == "ConfigMap"]
    assert "retentionPolicy" not in config["data"]
    # What is kept of the controller's configuration.
    assert {"executor", "metricsConfig", "namespaceParallelism"} <= set(config["data"])


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
