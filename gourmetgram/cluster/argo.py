"""Argo Workflows and Argo CD on the cluster: the Workflows invoke submits on node1 (train, build,
deploy, promote), their phase and deadline, and the Argo CD Application of an environment.

Pure functions of the settings; nothing here touches the network or the filesystem except
reading this checkout's workflow files (to pass only declared parameters). The lifecycle
Target on the cluster (gourmetgram/cluster/target.py) and the tasks run them through the Runner.
"""

from __future__ import annotations

import json

import yaml

from gourmetgram import names
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings
from gourmetgram.cluster.ssh import remote_step
from gourmetgram.cluster.workflow_defaults import branch_image_tag
from gourmetgram.errors import BadAnswer, UsageError
from gourmetgram.paths import REPO_ROOT

WORKFLOWS_DIR = REPO_ROOT / "workflows"
ARGO_NAMESPACE = "argo"
ARGOCD_NAMESPACE = "argocd"
WORKFLOW_DONE_PHASES = ("Succeeded", "Failed", "Error")


# Shown in dry-runs where a real run would use a value read from the cluster.
VERSION_PLACEHOLDER = "<N>"


def declared_parameters(workflow_file: str) -> list[str]:
    """Parameter names a workflow (template) in workflows/ declares in spec.arguments."""
    path = WORKFLOWS_DIR / workflow_file
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadAnswer(f"{path} not found: the workflows are not in this checkout") from None
    return [p["name"] for p in doc.get("spec", {}).get("arguments", {}).get("parameters", [])]


def workflow_from_template(template: str, parameters: dict[str, str]) -> dict:
    """A Workflow that runs WorkflowTemplate `template` with these parameter values.

    Every parameter must be declared by workflows/<template>.yaml (a misspelt
    name would otherwise be ignored silently by Argo).
    """
    declared = declared_parameters(f"{template}.yaml")
    unknown = [p for p in parameters if p not in declared]
    if unknown:
        raise UsageError(f"workflows/{template}.yaml declares {', '.join(declared)}; not {', '.join(unknown)}")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-", "namespace": ARGO_NAMESPACE},
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]},
        },
    }


def submit_step(settings: Settings, floating_ip: str, workflow: dict, title: str) -> Step:
    """Create the Workflow on node1 (`kubectl create -f -`, the manifest on stdin)."""
    return remote_step(
        settings,
        floating_ip,
        ["kubectl", "create", "-n", ARGO_NAMESPACE, "-f", "-", "-o", "name"],
        stdin=json.dumps(workflow, indent=2) + "\n",
        capture=True,
        title=title,
    )


def created_placeholder(template: str) -> str:
    """What `kubectl create -o name` prints for a Workflow of `template` (dry-runs show this)."""
    return f"workflow.argoproj.io/{template}-<id>"


def _train_image_tag(settings: Settings) -> str:
    """The training image of GG_REPO_REVISION (build-training-init and train-model tag it by branch)."""
    settings.require("repo_revision")
    return branch_image_tag(settings.repo_revision)


def train_steps(
    settings: Settings,
    floating_ip: str,
    branch: str | None = None,
    bad: bool = False,
    extra: dict[str, str] | None = None,
) -> list[Step]:
    """Submit train-model (repo-url, branch: GG_REPO_URL and --branch or GG_REPO_REVISION; bad-model;
    extra: e.g. train-args, gpus)."""
    branch = settings.revision(branch)
    params = {"branch": branch, "repo-url": str(settings.repo_url), "bad-model": "true" if bad else "false"}
    params.update(extra or {})
    what = "the lab's bad model (state dict)" if bad else "a model"
    workflow = workflow_from_template("train-model", params)
    return [submit_step(settings, floating_ip, workflow, f"train {what} from branch {branch}")]


def deploy_image_steps(settings: Settings, floating_ip: str, env: str, version: int | str) -> list[Step]:
    """Submit deploy-container-image: Argo CD `app set gourmetgram-<env> --helm-set-string image.tag=<env>-1.0.N`,
    sync, wait. The workflow holds the one copy of those argocd commands (and the admin login they need)."""
    if version == VERSION_PLACEHOLDER:
        names.check_env(env)
        tag = f"{env}-{names.VERSION_MAJOR_MINOR}.{version}"
    else:
        tag = names.image_tag(env, version)
        version = str(int(version))
    workflow = workflow_from_template("deploy-container-image", {"environment": env, "model-version": str(version)})
    return [submit_step(settings, floating_ip, workflow, f"Argo CD {names.app_name(env)}: image.tag={tag}, sync")]


def promote_steps(settings: Settings, floating_ip: str, source: str, target: str, version: int) -> list[Step]:
    """Submit promote-model (source-environment, target-environment, model-version). The task has checked the
    input and asked rules.promotion_refusal; the workflow's check-promotion asks names.py again in the cluster."""
    tag = names.image_tag(target, version)
    params = {
        "source-environment": source,
        "target-environment": target,
        "model-version": str(version),
        # The training image of the deployed revision runs check-promotion and the alias step.
        "train-image-tag": _train_image_tag(settings),
    }
    workflow = workflow_from_template("promote-model", params)
    return [submit_step(settings, floating_ip, workflow, f"promote {source} -> {target}: {tag}")]


def workflow_deadline(template: str) -> int:
    """spec.activeDeadlineSeconds of workflows/<template>.yaml: Argo fails the Workflow after it."""
    doc = yaml.safe_load((WORKFLOWS_DIR / f"{template}.yaml").read_text())
    deadline = doc["spec"].get("activeDeadlineSeconds")
    if not isinstance(deadline, int) or deadline <= 0:
        raise BadAnswer(f"workflows/{template}.yaml sets no spec.activeDeadlineSeconds: a wait would have no end")
    return deadline


def workflow_phase_step(settings: Settings, floating_ip: str, created: str) -> Step:
    """The phase of a submitted Workflow (`created` as `kubectl create -o name` printed it)."""
    remote = ["kubectl", "-n", ARGO_NAMESPACE, "get", created, "-o", "jsonpath={.status.phase}"]
    return remote_step(settings, floating_ip, remote, capture=True, title=f"phase of {created}")


def argocd_app_step(settings: Settings, floating_ip: str, env: str) -> Step:
    """The Argo CD Application of env as JSON (the object `argocd app get -o json` prints; kubectl needs no login)."""
    remote = ["kubectl", "-n", ARGOCD_NAMESPACE, "get", "application", names.app_name(env), "-o", "json"]
    return remote_step(settings, floating_ip, remote, capture=True, title=f"Argo CD application {names.app_name(env)}")
