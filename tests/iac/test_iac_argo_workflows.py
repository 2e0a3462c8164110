"""Argo workflows: hera's models with extra="forbid" (embedded Workflow manifests too), cross-references
between the templates, the templates the Ansible play applies, and pinned images."""

from __future__ import annotations

import re

import iac_tools as t
import pytest

WORKFLOWS = t.workflow_files()
IDS = [p.name for p in WORKFLOWS]
REFERENCE = [
    "build-initial-buildkit.yaml",
    "build-training-initial-buildkit.yaml",
    "train-model.yaml",
    "build-container-image.yaml",
    "deploy-container-image.yaml",
    "test-staging.yaml",
    "promote-model.yaml",
    "cron-train.yaml",
]


@pytest.fixture(scope="session")
def strict_results() -> dict[str, list[str]]:
    """One hera run for every workflow file (a subprocess: the strict models must not leak)."""
    return t.argo_strict(WORKFLOWS)


def test_the_eight_reference_workflows_exist():
    assert sorted(REFERENCE) == sorted(set(REFERENCE) & set(IDS))


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_is_valid_for_hera_strict_models(path, strict_results):
    assert strict_results[str(path)] == []


def test_workflow_template_references_resolve_and_arguments_match():
    assert t.argo_crossref_findings(WORKFLOWS) == []


def test_every_workflow_image_is_pinned():
    docs = [(t.rel(p), d) for p in WORKFLOWS for d in t.load_yaml_docs(p)]
    assert t.unpinned_images(docs) == []


def test_templates_applied_by_ansible_exist():
    playbook = t.REPO / "ansible" / "argocd" / "workflow_templates_apply.yml"
    text = playbook.read_text()
    mentioned = set(re.findall(r"workflows/([\w.-]+\.ya?ml)", text)) | set(re.findall(r"\b([\w-]+\.yaml)\b", text))
    missing = sorted(m for m in mentioned if not (t.REPO / "workflows" / m).exists())
    assert not missing, f"{t.rel(playbook)} applies workflow files that do not exist: {missing}"
    # The lab applies the six templates (build, deploy, promote, train, test-staging, cron-train).
    six = {"build-container-image.yaml", "deploy-container-image.yaml", "promote-model.yaml",
           "train-model.yaml", "test-staging.yaml", "cron-train.yaml"}  # fmt: skip
    assert six <= mentioned, f"{t.rel(playbook)} does not apply {sorted(six - mentioned)}"


@pytest.mark.parametrize("name", ["workflow_build_init.yml", "workflow_build_training_init.yml"])
def test_one_off_build_workflows_run_by_ansible_exist(name):
    playbook = t.REPO / "ansible" / "argocd" / name
    files = {v for _, key, v in t.walk(t.load_yaml_docs(playbook)) if key == "gg_workflow_file"}
    files |= set(re.findall(r"workflows/([\w.-]+\.ya?ml)", playbook.read_text()))
    assert files, f"{t.rel(playbook)} names no workflow file"
    for f in files:
        doc = t.load_yaml_docs(t.REPO / "workflows" / f)[0]
        # kubectl create of a one-off run: a Workflow (generateName), not a template.
        assert doc["kind"] == "Workflow", f"workflows/{f} is a {doc['kind']}, the play creates a Workflow"


def built_dockerfiles() -> set[str]:
    """Repository paths of the Dockerfiles the workflows build (the repo is cloned to /work/repo)."""
    found = set()
    for path in WORKFLOWS:
        for m in re.finditer(r"--local[= ]dockerfile=/work/repo/?([\w./-]*)", path.read_text()):
            found.add(f"{m.group(1).strip('/')}/Dockerfile".lstrip("/"))
    return found


def test_workflows_build_dockerfiles_that_exist():
    built = built_dockerfiles()
    assert built, "no BuildKit build found in workflows/"
    missing = sorted(f for f in built if not (t.REPO / f).exists())
    assert not missing, f"workflows build from {missing}, which are not in the repository"
