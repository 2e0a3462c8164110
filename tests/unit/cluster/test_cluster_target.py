"""ClusterTarget, `invoke rollback` and the rule check of `invoke promote`, without a cluster.

A recording runner stands in for ssh: it keeps every Step (exact argv and
stdin) and answers like the real commands (kubectl create -o name, a Workflow
phase, the Argo CD Application JSON). MLflow is an in-memory registry double.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from invoke import Context, Exit

from gourmetgram import names
from gourmetgram.cluster import argo
from gourmetgram.cluster.runner import Runner, format_elapsed
from gourmetgram.cluster.target import ClusterTarget, deploy_history, deployed_tag
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.lifecycle.steps import Lifecycle, StepFailed
from gourmetgram.lifecycle.target import DeployError
from gourmetgram.tasks import cluster as tasks

IP = "203.0.113.10"
REPO = "registry.kube-system.svc.cluster.local:5000/gourmetgram-app"


def _source(tag: str | None) -> dict:
    params = [{"name": "service.externalIP", "value": "192.168.1.11", "forceString": True}]
    if tag:
        params.append({"name": "image.tag", "value": tag, "forceString": True})
    return {
        "repoURL": "https://github.com/example/gourmetgram-mlops.git",
        "path": "k8s/production",
        "targetRevision": "main",
        "helm": {"parameters": params},
    }


def _history_entry(i: int, tag: str | None, at: str) -> dict:
    return {
        "revision": "5d0c6f1e9b7a4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
        "deployedAt": at,
        "id": i,
        "source": _source(tag),
        "deployStartedAt": at.replace(":30Z", ":12Z"),
        "initiatedBy": {"username": "admin"} if tag else {"automated": True},
    }


# `kubectl -n argocd get application gourmetgram-production -o json` after the initial sync (chart default
# production-1.0.0, no image.tag parameter) and deploys of 1.0.1, 1.0.2 and 1.0.3 by deploy-container-image.
PRODUCTION_APP = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "gourmetgram-production", "namespace": "argocd", "resourceVersion": "48213"},
    "spec": {
        "destination": {"namespace": "gourmetgram-production", "server": "https://kubernetes.default.svc"},
        "project": "default",
        "source": _source("production-1.0.3"),
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
    },
    "status": {
        "health": {"status": "Healthy"},
        "sync": {"status": "Synced", "revision": "5d0c6f1e9b7a4c3d2e1f0a9b8c7d6e5f4a3b2c1d"},
        # Argo CD may return history out of order after a trim; ids give the order.
        "history": [
            _history_entry(0, None, "2026-11-27T09:14:30Z"),
            _history_entry(1, "production-1.0.1", "2026-11-27T15:02:30Z"),
            _history_entry(3, "production-1.0.3", "2026-11-28T16:40:30Z"),
            _history_entry(2, "production-1.0.2", "2026-11-28T02:31:30Z"),
        ],
        "summary": {"images": [f"{REPO}:production-1.0.3"]},
        "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
    },
}


def _app(**changes) -> dict:
    app = copy.deepcopy(PRODUCTION_APP)
    for key, value in changes.items():
        section, field = key.split("__")
        app[section][field] = value
    return app


class RecordingRunner(Runner):
    """Runs nothing: records each step and answers like ssh node1 would."""

    def __init__(self, apps: dict[str, dict] | None = None, phases=("Running", "Succeeded")):
        self.lines: list[str] = []
        super().__init__(dry_run=False, echo=self.lines.append)
        self.steps = []
        self.apps = apps or {}
        self.phases = list(phases)

    def run(self, step):
        self.steps.append(step)
        remote = step.argv[-1]
        if remote.startswith("kubectl create"):
            template = json.loads(step.stdin)["spec"]["workflowTemplateRef"]["name"]
            return f"workflow.argoproj.io/{template}-x7k2p\n"
        if remote.startswith("kubectl -n argo get"):
            return self.phases.pop(0)
        if remote.startswith("kubectl -n gourmetgram-platform get secret mlflow-credentials"):
            return json.dumps({"data": {"username": "YWRtaW4=", "password": "czNjcjN0"}})
        if remote.startswith("kubectl -n argocd get application"):
            env = remote.split()[5].removeprefix("gourmetgram-")
            return json.dumps(self.apps[env])
        return ""

    def remote(self) -> list[str]:
        return [s.argv[-1] for s in self.steps]

    def submitted(self) -> list[dict]:
        return [json.loads(s.stdin) for s in self.steps if s.stdin]


class FakeRegistry:
    def __init__(self, approved=()):
        self.approved = set(approved)
        self.aliases: dict[str, int] = {}

    def is_approved(self, n):
        return int(n) in self.approved

    def set_alias(self, alias, n):
        self.aliases[alias] = int(n)


@pytest.fixture
def settings_env(example_process_env):
    from gourmetgram.cluster.settings import load_settings

    return load_settings()


def ssh_prefix(settings) -> tuple[str, ...]:
    return (
        "ssh", "-i", settings.ssh_key_path(), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", f"cc@{IP}",
    )  # fmt: skip


def params_of(workflow: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}


# ---- exact commands in dry-run ---------------------------------------------------------------


def test_dry_run_commands_of_every_method(settings_env):
    lines: list[str] = []
    runner = Runner(dry_run=True, echo=lines.append)
    target = ClusterTarget(settings_env, runner, IP)

    target.deploy("production", 7)
    assert target.deployed_version("production") is None  # nothing is read in a dry-run
    assert target.history("production") == []
    assert target.url("production") == f"http://{IP}:8080"
    assert target.url("canary") == f"http://{IP}:8081"
    assert target.url("staging") == f"http://{IP}:8082"

    pre = ssh_prefix(settings_env)
    create = "kubectl create -n argo -f - -o name"
    assert [s.argv for s in runner.executed] == [
        (*pre, create),
        (*pre, "kubectl -n argo get 'workflow.argoproj.io/deploy-container-image-<id>' -o 'jsonpath={.status.phase}'"),
        (*pre, "kubectl -n argocd get application gourmetgram-production -o json"),
        (*pre, "kubectl -n argocd get application gourmetgram-production -o json"),
    ]  # fmt: skip
    (deploy,) = (json.loads(s.stdin) for s in runner.executed if s.stdin)
    assert deploy["spec"]["workflowTemplateRef"] == {"name": "deploy-container-image"}
    assert params_of(deploy) == {"environment": "production", "model-version": "7"}
    # The printed lines are the commands, ready to paste.
    assert sum(line.startswith("would run: ssh ") for line in lines) == 4
    # Building and copying tags are the workflows' steps, not the cluster's Serving (lifecycle.target).
    assert not hasattr(target, "build") and not hasattr(target, "copy_tag")


def test_build_only_skips_the_alias_deploy_and_test_steps_of_the_workflow():
    doc = yaml.safe_load((argo.WORKFLOWS_DIR / "build-container-image.yaml").read_text())
    declared = {p["name"]: p for p in doc["spec"]["arguments"]["parameters"]}
    assert declared["build-only"]["value"] == "false"  # train-model's chain is unchanged
    steps = [s for group in doc["spec"]["templates"][0]["steps"] for s in group]
    conditional = {s["name"] for s in steps if "build-only" in s.get("when", "")}
    assert conditional == {"tag-model-staging", "deploy-to-staging", "test-staging"}
    assert "{{workflow.parameters.build-only}}' != 'true'" in steps[-1]["when"]


def test_deploy_sets_the_same_helm_parameter_the_target_reads():
    doc = yaml.safe_load((argo.WORKFLOWS_DIR / "deploy-container-image.yaml").read_text())
    script = doc["spec"]["templates"][1]["script"]["source"]
    assert "--helm-set-string image.tag={{workflow.parameters.environment}}-1.0." in script
    assert "argocd app sync" in script and "argocd app wait" in script


# ---- waiting for workflows ---------------------------------------------------------------------


def test_deploy_polls_the_workflow_until_it_succeeds(settings_env):
    runner = RecordingRunner(phases=["Pending", "Running", "Running", "Succeeded"])
    slept: list[float] = []
    ClusterTarget(settings_env, runner, IP, poll_seconds=5, sleep=slept.append).deploy("canary", 4)
    polls = [r for r in runner.remote() if r.startswith("kubectl -n argo get")]
    assert polls == ["kubectl -n argo get workflow.argoproj.io/deploy-container-image-x7k2p -o "
                     "'jsonpath={.status.phase}'"] * 4  # fmt: skip
    assert slept == [5, 5, 5]
    assert runner.lines[-1] == "workflow.argoproj.io/deploy-container-image-x7k2p: Succeeded"


def test_a_failed_deploy_workflow_is_a_deploy_error_naming_its_logs(settings_env):
    runner = RecordingRunner(phases=["Running", "Failed"])
    target = ClusterTarget(settings_env, runner, IP, sleep=lambda s: None)
    with pytest.raises(DeployError, match=r"canary-1\.0\.4 ended Failed.*workflow=deploy-container-image-x7k2p"):
        target.deploy("canary", 4)


def test_a_deploy_workflow_that_never_finishes_is_a_deploy_error(settings_env):
    runner = RecordingRunner(phases=["Running"] * 4)
    target = ClusterTarget(settings_env, runner, IP, poll_seconds=10, timeout=30, sleep=lambda s: None)
    with pytest.raises(DeployError, match="still Running after 30 s"):
        target.deploy("staging", 4)


@pytest.mark.parametrize("template", ["deploy-container-image"])
def test_the_wait_covers_the_workflows_own_deadline_and_shows_progress(settings_env, template):
    """invoke waits as long as Argo lets the Workflow run (its activeDeadlineSeconds), printing each poll."""
    deadline = argo.workflow_deadline(template)
    polls = int(deadline // 60) + 1
    runner = RecordingRunner(phases=["Running"] * polls + ["Succeeded"])
    slept: list[float] = []
    target = ClusterTarget(settings_env, runner, IP, poll_seconds=60, sleep=slept.append)
    target.deploy("staging", 5)
    assert sum(slept) >= deadline
    progress = [
        line for line in runner.lines if line.endswith(f"of up to {format_elapsed(target.wait_limit(template))}")
    ]
    assert len(progress) == polls and progress[0].endswith(
        f"-x7k2p: Running, {format_elapsed(0)} of up to {format_elapsed(target.wait_limit(template))}"
    )


# ---- reading the Argo CD Application -----------------------------------------------------------


def test_deployed_version_and_history_from_the_application(settings_env):
    target = ClusterTarget(settings_env, RecordingRunner({"production": PRODUCTION_APP}), IP)
    assert target.deployed_version("production") == 3
    assert target.history("production") == [
        Deployment(1, "production-1.0.1", "2026-11-27T15:02:30Z"),
        Deployment(2, "production-1.0.2", "2026-11-28T02:31:30Z"),
        Deployment(3, "production-1.0.3", "2026-11-28T16:40:30Z"),
    ]


def test_before_any_deploy_the_live_image_tells_the_version():
    initial = _app(spec__source=_source(None), status__history=[_history_entry(0, None, "2026-11-27T09:14:30Z")])
    initial["status"]["summary"]["images"] = [f"{REPO}:production-1.0.0"]
    assert deployed_tag(initial) == "production-1.0.0"
    assert deploy_history("production", initial) == []
    empty = _app(spec__source=_source(None), status__history=[])
    empty["status"]["summary"] = {}
    assert deployed_tag(empty) is None


def test_an_image_of_another_environment_is_an_error(settings_env):
    wrong = _app(spec__source=_source("canary-1.0.3"))
    target = ClusterTarget(settings_env, RecordingRunner({"production": wrong}), IP)
    with pytest.raises(ValueError, match="runs image tag canary-1.0.3, which belongs to canary"):
        target.deployed_version("production")


def test_an_answer_that_is_not_an_application_is_an_error(settings_env):
    runner = RecordingRunner({"production": {"kind": "Status", "status": "Failure"}})
    with pytest.raises(ValueError, match="not an Argo CD Application"):
        ClusterTarget(settings_env, runner, IP).history("production")


# ---- rollback ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("approved", "expected"), [({1, 2, 3}, 2), ({1, 3}, 1)])
def test_rollback_deploys_the_previous_known_good_version(settings_env, approved, expected):
    runner = RecordingRunner({"production": PRODUCTION_APP})
    registry = FakeRegistry(approved)
    target = ClusterTarget(settings_env, runner, IP, sleep=lambda s: None)
    assert Lifecycle(target, registry, say=runner.lines.append).rollback("production") == expected
    (deploy,) = runner.submitted()
    assert params_of(deploy) == {"environment": "production", "model-version": str(expected)}
    assert registry.aliases == {"production": expected}


def test_rollback_refuses_when_there_is_no_earlier_known_good_version(settings_env):
    runner = RecordingRunner({"production": PRODUCTION_APP})
    registry = FakeRegistry({3})
    target = ClusterTarget(settings_env, runner, IP)
    with pytest.raises(StepFailed, match="no earlier known-good version to roll back to"):
        Lifecycle(target, registry, say=runner.lines.append).rollback("production")
    assert runner.submitted() == [] and registry.aliases == {}


@pytest.fixture
def cluster(monkeypatch, settings_env, tmp_path):
    """The tasks' Runner and MLflow registry replaced by the recording runner and the registry double."""
    state = {"apps": {"production": PRODUCTION_APP}, "registry": FakeRegistry({1, 2, 3}), "runners": []}

    def make_runner(dry_run=False):
        assert not dry_run
        runner = RecordingRunner(state["apps"], phases=["Succeeded"])
        state["runners"].append(runner)
        return runner

    monkeypatch.setattr(tasks, "Runner", make_runner)
    monkeypatch.setattr(tasks, "_registry", lambda ip: state["registry"])
    from gourmetgram.cluster import mlflow_auth

    monkeypatch.setattr(mlflow_auth, "NETRC_FILE", tmp_path / "mlflow.netrc")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "unset-by-the-test")
    return state


def test_invoke_rollback(cluster):
    tasks.rollback(Context(), env="production")
    (runner,) = cluster["runners"]
    assert [params_of(w) for w in runner.submitted()] == [{"environment": "production", "model-version": "2"}]
    assert cluster["registry"].aliases == {"production": 2}
    assert runner.lines[-1] == f"\nproduction serves 1.0.2 again at http://{IP}:8080"


def test_invoke_rollback_refuses_without_a_known_good_version(cluster):
    cluster["registry"] = FakeRegistry({3})
    with pytest.raises(Exit, match="no earlier known-good version"):
        tasks.rollback(Context(), env="production")
    assert cluster["runners"][0].submitted() == []


def test_invoke_rollback_refuses_an_unknown_environment_before_any_command(cluster):
    with pytest.raises(Exit, match="unknown environment 'prod'"):
        tasks.rollback(Context(), env="prod")
    assert cluster["runners"] == []


# ---- promote: the shared rule before submitting -----------------------------------------------


def test_promote_refuses_a_disallowed_pair_before_any_command(cluster):
    with pytest.raises(Exit, match="cannot promote canary -> staging"):
        tasks.promote(Context(), version="3", from_="canary", to="staging")
    assert cluster["runners"] == []


def test_promote_refuses_a_version_that_did_not_pass_staging(cluster):
    cluster["apps"] = {"canary": _app(spec__source=_source("canary-1.0.3"))}
    cluster["registry"] = FakeRegistry({1, 2})
    with pytest.raises(Exit, match="version 3 is not staging-approved"):
        tasks.promote(Context(), version="3")
    assert cluster["runners"][0].submitted() == []


def test_promote_refuses_a_version_the_source_does_not_serve(cluster):
    cluster["apps"] = {"canary": _app(spec__source=_source("canary-1.0.2"))}
    with pytest.raises(Exit, match="version 3 is not in canary: canary serves 1.0.2"):
        tasks.promote(Context(), version="3")
    assert cluster["runners"][0].submitted() == []


def test_promote_submits_an_allowed_approved_served_version(cluster):
    cluster["apps"] = {"canary": _app(spec__source=_source("canary-1.0.3"))}
    tasks.promote(Context(), version="3")
    (runner,) = cluster["runners"]
    (workflow,) = runner.submitted()
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "promote-model"}
    assert params_of(workflow) == {
        "source-environment": names.CANARY,
        "target-environment": names.PRODUCTION,
        "model-version": "3",
        "train-image-tag": "main",
    }
    assert runner.remote()[0] == "kubectl -n argocd get application gourmetgram-canary -o json"


def test_invoke_rollback_dry_run_prints_the_read_and_the_deploy(example_process_env, monkeypatch, capsys):
    from gourmetgram.cluster import runner as runner_mod

    def forbidden(*args, **kwargs):
        raise AssertionError(f"dry-run started a process: {args}")

    monkeypatch.setattr(runner_mod.subprocess, "run", forbidden)
    tasks.rollback(Context(), env="canary", dry_run=True)
    out = capsys.readouterr().out
    ran = [line.removeprefix("would run: ssh ").split(f"cc@{IP} ", 1)[1] for line in out.splitlines()
           if line.startswith("would run: ")]  # fmt: skip
    assert ran == [
        "'kubectl -n argocd get application gourmetgram-canary -o json'",
        "'kubectl create -n argo -f - -o name' <<'EOF'",
        "'kubectl -n argo get '\"'\"'workflow.argoproj.io/deploy-container-image-<id>'\"'\"' -o '\"'\"'jsonpath="
        "{.status.phase}'\"'\"''",
    ]
    assert '"value": "<N>"' in out and "then sets alias canary -> <N> in MLflow" in out
