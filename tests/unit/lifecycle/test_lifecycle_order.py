"""The lifecycle order is declared once (gourmetgram/lifecycle/order.py) and the cluster follows it.

On the cluster the lifecycle is a relay: train-model submits build-container-image, which
submits deploy-container-image and test-staging, which submits promote-model and
analyze-canary, ... These tests follow that relay through workflows/*.yaml on the
successful path (every gate passes, the canary analysis says promote) and compare the
workflows it starts, in order, with the stages order.STAGES declares.
"""

from __future__ import annotations

import re

import pytest
import yaml

from gourmetgram import names
from gourmetgram.lifecycle import order
from gourmetgram.lifecycle.steps import Lifecycle
from gourmetgram.paths import REPO_ROOT

WORKFLOWS = REPO_ROOT / "workflows"
FIRST = "train-model"  # what `invoke train` and cron-train submit
# Step outputs on the successful path: a model was registered, every check passed, the canary promoted.
SUCCESS = {"modelversion": "7", "needs-build": "false", "verdict": "promote", "restore-version": ""}
PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
# The parameters that name the environment a workflow acts on.
ENV_PARAMETERS = ("environment", "target-environment")


def workflow_templates() -> dict[str, dict]:
    out = {}
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "WorkflowTemplate":
                out[doc["metadata"]["name"]] = doc
    return out


def _fill(text: str, workflow: dict[str, str], inputs: dict[str, str], outcome: dict[str, str]) -> str:
    def value(m: re.Match) -> str:
        expr = m.group(1)
        if expr.startswith("workflow.parameters."):
            return workflow.get(expr.removeprefix("workflow.parameters."), "") or ""
        if expr.startswith("inputs.parameters."):
            return inputs.get(expr.removeprefix("inputs.parameters."), "")
        if ".outputs.parameters." in expr:
            return outcome.get(expr.rsplit(".", 1)[1], "x")
        return "x"

    return PLACEHOLDER.sub(value, text)


def _when(expr: str | None, fill) -> bool:
    """Argo's `when` (govaluate) for the simple forms the workflows use: quoted comparisons, && and ||."""
    if not expr:
        return True
    python = fill(expr).replace("&&", " and ").replace("||", " or ")
    return bool(eval(python, {"__builtins__": {}}, {}))  # noqa: S307 - our own workflow files, quoted strings only


def relay(
    name: str,
    passed: dict[str, str] | None = None,
    outcome: dict[str, str] = SUCCESS,
    templates=None,
    chain: tuple[str, ...] = (),
) -> list[tuple[str, str | None]]:
    """(workflow template, environment it acts on) of `name` and every workflow it submits, in the order
    they start (depth first: a submitted workflow's own relay comes before the submitter's next step)."""
    templates = templates if templates is not None else workflow_templates()
    if name in chain:
        raise AssertionError(f"the relay loops: {' -> '.join((*chain, name))}")
    spec = templates[name]["spec"]
    params = {p["name"]: p.get("value") for p in spec.get("arguments", {}).get("parameters", [])}
    params.update(passed or {})
    env = next((params[p] for p in ENV_PARAMETERS if params.get(p)), None)
    started: list[tuple[str, str | None]] = [(name, env)]
    by_name = {t["name"]: t for t in spec["templates"]}

    def run(template_name: str, inputs: dict[str, str]) -> None:
        template = by_name[template_name]
        fill = lambda text: _fill(text, params, inputs, outcome)  # noqa: E731
        calls = [s for group in template.get("steps") or [] for s in group]
        calls += (template.get("dag") or {}).get("tasks") or []
        for call in calls:
            if _when(call.get("when"), fill):
                args = {
                    p["name"]: fill(str(p.get("value", ""))) for p in call.get("arguments", {}).get("parameters", [])
                }
                run(call["template"], args)
        resource = template.get("resource")
        if resource and resource.get("action") == "create":
            manifest = yaml.safe_load(fill(resource["manifest"]))
            ref = manifest.get("spec", {}).get("workflowTemplateRef")
            if manifest.get("kind") == "Workflow" and ref:
                child = {p["name"]: str(p.get("value", "")) for p in manifest["spec"]["arguments"]["parameters"]}
                started.extend(relay(ref["name"], child, outcome, templates, (*chain, name)))

    run(spec["entrypoint"], {})
    return started


def declared() -> list[tuple[str, str | None]]:
    """What order.STAGES says the cluster runs: each stage's workflows, with the stage's environment on
    the ones that take an environment parameter."""
    templates = workflow_templates()
    out = []
    for stage in order.STAGES:
        for wf in stage.workflows:
            declared_params = {p["name"] for p in templates[wf]["spec"]["arguments"]["parameters"]}
            out.append((wf, stage.environment if declared_params & set(ENV_PARAMETERS) else None))
    return out


def test_the_cluster_relay_follows_the_declared_lifecycle_order():
    got = relay(FIRST)
    want = declared()
    assert got == want, (
        "workflows/*.yaml start each other in another order than gourmetgram/lifecycle/order.py declares:\n"
        f"  relay:    {got}\n  declared: {want}\n"
        "a new lifecycle step goes into order.STAGES AND into the workflow that submits the next one"
    )


def test_the_relay_reader_sees_a_broken_link_and_an_abort():
    templates = workflow_templates()
    # analyze-canary submits a deploy instead of promote-model: the comparison fails.
    broken = yaml.safe_load(yaml.safe_dump(templates))
    for t in broken["analyze-canary"]["spec"]["templates"]:
        if t["name"] == "trigger-promote":
            manifest = t["resource"]["manifest"]
            t["resource"]["manifest"] = manifest.replace("name: promote-model", "name: deploy-container-image")
    got = relay(FIRST, templates=broken)
    assert got != declared() and ("promote-model", names.PRODUCTION) not in got
    # A relay that starts itself again is reported, not followed forever.
    for t in broken["analyze-canary"]["spec"]["templates"]:
        if t["name"] == "trigger-promote":
            t["resource"]["manifest"] = t["resource"]["manifest"].replace("deploy-container-image", "test-staging")
    with pytest.raises(AssertionError, match="the relay loops: .*test-staging -> analyze-canary -> test-staging"):
        relay(FIRST, templates=broken)
    # An aborting canary analysis restores canary instead of promoting (the other branch of the `when`s).
    aborted = relay("analyze-canary", {"model-version": "7"}, {**SUCCESS, "verdict": "abort", "restore-version": "6"})
    assert aborted == [("analyze-canary", None), ("deploy-container-image", names.CANARY)]


def test_release_runs_the_release_stages_through_lifecycle_methods():
    assert [s.key for s in order.RELEASE] == ["build", "deploy_staging", "test_staging", "promote_canary"]
    for stage in order.RELEASE:
        assert callable(getattr(Lifecycle, f"_{stage.key}", None)), f"Lifecycle has no _{stage.key} for {stage.title}"
    assert [s.key for s in order.STAGES][0] == "train" and order.STAGES[-1].environment == names.PRODUCTION


def test_stages_are_unique_and_promotions_follow_names_py():
    keys = [s.key for s in order.STAGES]
    assert len(set(keys)) == len(keys)
    steps = [step for s in order.STAGES for step in s.steps]
    assert len(set(steps)) == len(steps), "a step name in two stages: the bench would count it twice"
    promoted = [s.environment for s in order.STAGES if s.workflows[0] == "promote-model"]
    assert promoted == [t for targets in names.PROMOTIONS.values() for t in targets]
    with pytest.raises(KeyError, match="no lifecycle stage 'shadow'"):
        order.stage("shadow")


def test_bench_groups_the_timings_by_the_declared_stages():
    from bench.platform_bench import STEP_GROUPS, group_steps

    assert list(STEP_GROUPS) == [s.title for s in order.STAGES]
    timings = {step: 1.0 for s in order.RELEASE for step in s.steps}
    assert group_steps(timings) == {s.title: float(len(s.steps)) for s in order.RELEASE}


def submitters(name: str) -> list[str]:
    """workflows/*.yaml files whose templates submit a Workflow of template `name`."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for template in (doc or {}).get("spec", {}).get("templates", []):
                manifest = (template.get("resource") or {}).get("manifest") or ""
                if re.search(rf"workflowTemplateRef:\s*\n\s*name:\s*{re.escape(name)}\s*$", manifest, re.M):
                    found.append(path.name)
    return sorted(set(found))


def _readme_files_to_touch(title: str) -> set[str]:
    text = (WORKFLOWS.parent / "README.md").read_text().split("## Where a change goes", 1)[-1]
    (row,) = [line for line in text.splitlines() if line.startswith(f"| {title}")]
    return set(re.findall(r"`([\w./<>*-]+\.(?:py|ya?ml|json|tpl|tf))`", row.split(" | ")[1]))


def test_readme_step_row_names_the_files_a_step_after_canary_touches():
    """README's 'new lifecycle step' row: order.py and steps.py (release() runs a stage by its method), the
    new template, the one that submits the stage after canary today, and the list of applied templates."""
    after_canary = submitters(order.stage("canary_analysis").workflows[0])
    assert after_canary == ["test-staging.yaml"]
    want = {
        "gourmetgram/lifecycle/order.py",
        "gourmetgram/lifecycle/steps.py",
        "workflows/<step>.yaml",
        *(f"workflows/{name}" for name in after_canary),
        "ansible/argocd/workflow_templates_apply.yml",
        "tests/unit/k8s/test_argo_workflows_parse.py",
    }
    assert _readme_files_to_touch("new lifecycle step") == want
    # A stage's template is only on the cluster if the apply playbook lists it.
    play = yaml.safe_load((WORKFLOWS.parent / "ansible/argocd/workflow_templates_apply.yml").read_text())[0]
    applied = set(play["vars"]["gg_workflow_templates"])
    missing = {f"{wf}.yaml" for s in order.STAGES for wf in s.workflows} - applied
    assert not missing, f"add {sorted(missing)} to ansible/argocd/workflow_templates_apply.yml gg_workflow_templates"
