"""Validate Argo Workflows manifests with hera's generated models, strictly.

Usage: python argo_strict.py FILE... -> prints {"<file>": ["<error>", ...]} as JSON.

hera's models accept unknown fields by default; here every model is rebuilt
with extra="forbid" and without populate_by_name, so a misspelled field
(`entrypont`, `service_account_name`) is an error, as it is for the Argo
server's own validation. Workflow manifests embedded in `resource` templates
(`resource.manifest`, a YAML string) are validated the same way. It runs in
its own process because the change is global to hera.
"""

from __future__ import annotations

import json
import sys

import pydantic
import yaml
from hera.shared._pydantic import APIBaseModel
from hera.workflows.models.io.argoproj.workflow import v1alpha1 as wf

KINDS = {
    "Workflow": wf.Workflow,
    "WorkflowTemplate": wf.WorkflowTemplate,
    "ClusterWorkflowTemplate": wf.ClusterWorkflowTemplate,
    "CronWorkflow": wf.CronWorkflow,
}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def make_strict() -> None:
    models = list(_subclasses(APIBaseModel))
    for model in models:
        model.model_config["extra"] = "forbid"
        model.model_config["populate_by_name"] = False
    for model in models:
        model.model_rebuild(force=True)


def _errors(exc: pydantic.ValidationError, prefix: str) -> list[str]:
    return [f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def validate_doc(doc: dict, where: str) -> list[str]:
    if not isinstance(doc, dict):
        return [f"{where}: not a mapping"]
    if doc.get("apiVersion") != "argoproj.io/v1alpha1":
        return [f"{where}: apiVersion {doc.get('apiVersion')!r} is not argoproj.io/v1alpha1"]
    model = KINDS.get(doc.get("kind"))
    if model is None:
        return [f"{where}: kind {doc.get('kind')!r} is not an Argo workflow kind"]
    try:
        parsed = model.model_validate(doc)
    except pydantic.ValidationError as e:
        return _errors(e, f"{where}: ")
    findings = []
    spec = parsed.spec.workflow_spec if doc["kind"] == "CronWorkflow" else parsed.spec
    for tmpl in spec.templates or []:
        manifest = tmpl.resource.manifest if tmpl.resource else None
        if not manifest:
            continue
        try:
            embedded = yaml.safe_load(manifest)
        except yaml.YAMLError as e:
            findings.append(f"{where}: template {tmpl.name}: resource manifest is not YAML: {e}")
            continue
        if isinstance(embedded, dict) and embedded.get("apiVersion", "").startswith("argoproj.io/"):
            findings += validate_doc(embedded, f"{where}: template {tmpl.name}: resource manifest: ")
    return findings


def validate_file(path: str) -> list[str]:
    try:
        with open(path) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
    except yaml.YAMLError as e:
        return [f"not YAML: {e}"]
    if not docs:
        return ["no document"]
    findings = []
    for i, doc in enumerate(docs):
        findings += validate_doc(doc, f"doc {i}" if len(docs) > 1 else "")
    return [f.lstrip(": ") for f in findings]


def main(argv: list[str]) -> int:
    make_strict()
    print(json.dumps({path: validate_file(path) for path in argv}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
