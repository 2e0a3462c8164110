"""Pods restart while the in-cluster registry is down, and the registry keeps its images (issue 11, item 5).

Immutable tags (<env>-1.0.N, pinned release tags) use IfNotPresent; the workflow steps that run
the training image by its moving branch tag ask the registry each time (Always). The registry
itself stores images on a local-path volume (Kubespray's registry_storage_class).
"""

from __future__ import annotations

import pytest
import yaml

from gourmetgram import names, values

CHARTS = (names.PLATFORM, *names.ENVIRONMENTS)
GROUP_VARS = values.REPO_ROOT / "ansible/k8s/inventory/mycluster/group_vars/all.yaml"


def _containers(docs: list[dict]):
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            spec = doc["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield f"{doc['kind']}/{doc['metadata']['name']}", container


@pytest.mark.parametrize("chart", CHARTS)
def test_pinned_images_are_pulled_only_when_missing(chart, rendered):
    found = list(_containers(rendered[chart]))
    assert found
    for owner, container in found:
        assert container["imagePullPolicy"] == "IfNotPresent", f"{owner}: {container['name']}"


def test_workflow_steps_on_a_moving_branch_tag_always_pull():
    checked = 0
    for path in sorted((values.REPO_ROOT / "workflows").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for template in doc["spec"].get("templates", []):
            body = template.get("script") or template.get("container")
            if body and body["image"].endswith(":{{workflow.parameters.train-image-tag}}"):
                assert body["imagePullPolicy"] == "Always", f"{path.name}: {template['name']}"
                checked += 1
    assert checked >= 5


def test_the_registry_keeps_its_images_on_a_local_path_volume():
    group_vars = yaml.safe_load(GROUP_VARS.read_text())
    assert group_vars["registry_enabled"] is True
    # Kubespray's registry role (roles/kubernetes-apps/registry) makes a PVC only when both are set.
    assert group_vars["registry_storage_class"] == group_vars["local_path_provisioner_storage_class"]
    assert group_vars["local_path_provisioner_enabled"] is True
    assert group_vars["registry_disk_size"].endswith("Gi")
    # The mirror goes to Docker's daemon.json (pre_k8s); the same option as a Kubespray flag would
    # make Docker refuse to start.
    assert "docker_registry_mirrors" not in group_vars and "docker_insecure_registries" not in group_vars
