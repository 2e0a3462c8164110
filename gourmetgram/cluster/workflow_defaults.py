"""The repository and revision every workflow clones: one source, GG_REPO_URL / GG_REPO_REVISION.

workflows/*.yaml carry placeholders for them (`repo-url: GG_REPO_URL`, `branch: main`).
`invoke workflows.apply` renders the lifecycle templates and the CronWorkflow with the
settings' values as parameter defaults (render_templates) and the playbook applies exactly
that; every submission by invoke passes them too (argo.py, playbooks.py), so neither a placeholder
nor another branch is ever cloned.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml

from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import BadAnswer, UsageError
from gourmetgram.paths import REPO_ROOT

WORKFLOWS_DIR = REPO_ROOT / "workflows"
APPLY_PLAYBOOK = REPO_ROOT / "ansible" / "argocd" / "workflow_templates_apply.yml"
RENDERED_FILE = REPO_ROOT / ".state" / "cluster" / "workflow-templates.json"

REPO_PARAMETER = "repo-url"
REVISION_PARAMETER = "branch"
TRAIN_IMAGE_PARAMETER = "train-image-tag"
# train-model's train/flow.py options: what a Workflow gets that passes none (the Argo Events Sensor
# `retrain`, cron-train); `invoke train` passes its own (GPU, --synthetic, --emulate).
TRAIN_ARGS_PARAMETER = "train-args"
# What workflows/*.yaml carry until `invoke workflows.apply` fills in GG_REPO_URL.
REPO_PLACEHOLDER = "GG_REPO_URL"


def branch_image_tag(revision: str) -> str:
    """The training image's tag for a branch: the workflows' `tr -c 'A-Za-z0-9_.\\n-' '-'` in Python."""
    if not revision:
        raise UsageError("the repository revision (GG_REPO_REVISION) is empty")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", revision)


def applied_files() -> list[str]:
    """The workflow files the playbook applies (its gg_workflow_templates list: one source)."""
    play = yaml.safe_load(APPLY_PLAYBOOK.read_text())[0]
    return list(play["vars"]["gg_workflow_templates"])


def defaults_for(repo_url: str, revision: str, train_args: str | None = None) -> dict[str, str]:
    """Parameter -> value that every template gets as its default (when it declares the parameter)."""
    wanted = {
        REPO_PARAMETER: repo_url,
        REVISION_PARAMETER: revision,
        TRAIN_IMAGE_PARAMETER: branch_image_tag(revision),
    }
    if train_args:
        wanted[TRAIN_ARGS_PARAMETER] = train_args
    return wanted


def default_train_args(settings: Settings) -> str:
    """The train-args of a training nobody chose options for: `invoke train`'s real CPU training, which
    fine-tunes the pinned ImageNet backbone (GG_PRETRAINED_URL/_SHA256), not a net from random weights."""
    from gourmetgram.cluster import food11  # food11 imports this module

    return food11.train_args(0, pretrained=(settings.pretrained_url, settings.pretrained_sha256))


def _set_defaults(parameters: list[dict], wanted: dict[str, str]) -> None:
    for p in parameters:
        if p["name"] in wanted:
            p["value"] = wanted[p["name"]]


def render(doc: dict, repo_url: str, revision: str, train_args: str | None = None) -> dict:
    """One workflow document with the repository and revision (and train_args, if given) as its defaults."""
    doc = copy.deepcopy(doc)
    wanted = defaults_for(repo_url, revision, train_args)
    kind = doc.get("kind")
    if kind in ("WorkflowTemplate", "Workflow"):
        _set_defaults(doc["spec"].get("arguments", {}).get("parameters", []), wanted)
    elif kind == "CronWorkflow":
        # A cron run passes every one its template declares, so the nightly run clones the same repository.
        spec = doc["spec"]["workflowSpec"]
        template = spec["workflowTemplateRef"]["name"]
        declared = [p["name"] for p in _template_parameters(template)]
        params = spec.setdefault("arguments", {}).setdefault("parameters", [])
        present = {p["name"] for p in params}
        params.extend({"name": n, "value": wanted[n]} for n in declared if n in wanted and n not in present)
        _set_defaults(params, wanted)
    else:
        raise BadAnswer(f"unexpected kind {kind!r} among the workflow templates")
    return doc


def _template_parameters(name: str) -> list[dict]:
    doc = yaml.safe_load((WORKFLOWS_DIR / f"{name}.yaml").read_text())
    return doc["spec"].get("arguments", {}).get("parameters", [])


def render_templates(settings: Settings) -> list[dict]:
    """Every document the playbook applies, with GG_REPO_URL / GG_REPO_REVISION (and the default
    train-args: default_train_args) as defaults."""
    settings.require("repo_url", "repo_revision")
    train_args = default_train_args(settings)
    docs = []
    for name in applied_files():
        for doc in yaml.safe_load_all((WORKFLOWS_DIR / name).read_text()):
            if doc:
                docs.append(render(doc, str(settings.repo_url), settings.repo_revision, train_args))
    return docs


def write_rendered(settings: Settings, path: Path | None = None) -> Path:
    """The rendered documents as one JSON List (what the playbook applies), at RENDERED_FILE by default."""
    path = path or RENDERED_FILE
    manifest = {"apiVersion": "v1", "kind": "List", "items": render_templates(settings)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
