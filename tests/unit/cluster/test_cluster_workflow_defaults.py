"""One source for the repository and revision the workflows clone (GG_REPO_URL / GG_REPO_REVISION).

What `invoke workflows.apply` applies is rendered for a fork and a branch, and nothing else
(no placeholder repository, no other branch) may be left in it.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from invoke import Context

from gourmetgram.cluster import food11, playbooks
from gourmetgram.cluster import workflow_defaults as wd
from gourmetgram.cluster.settings import PRETRAINED_SHA256, PRETRAINED_URL, Settings
from gourmetgram.paths import REPO_ROOT
from gourmetgram.tasks import cluster as tasks

FORK = "https://git.example.org/someone/food-fork.git"
BRANCH = "feature/nightly-x"
FORK_SETTINGS = Settings(repo_url=FORK, repo_revision=BRANCH)


def _strings(node):
    """Every string value (descriptions, which are prose, left out)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "description":
                yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _parameters(doc: dict) -> list[dict]:
    spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
    return spec.get("arguments", {}).get("parameters", [])


@pytest.fixture(scope="module")
def applied() -> list[dict]:
    return wd.render_templates(FORK_SETTINGS)


def test_every_applied_file_is_rendered(applied):
    names = {d["metadata"]["name"] for d in applied}
    assert names == {
        "build-container-image", "deploy-container-image", "promote-model", "train-model", "test-staging",
        "analyze-canary", "cron-train",
    }  # fmt: skip
    # The canary analysis runs in the training image of the branch, like the other lifecycle steps.
    (canary,) = [d for d in applied if d["metadata"]["name"] == "analyze-canary"]
    params = {p["name"]: p.get("value") for p in _parameters(canary)}
    assert params[wd.TRAIN_IMAGE_PARAMETER] == wd.branch_image_tag(BRANCH)


def test_rendered_templates_name_only_the_fork_and_its_branch(applied):
    tag = wd.branch_image_tag(BRANCH)
    assert tag == "feature-nightly-x"
    seen = {wd.REPO_PARAMETER: set(), wd.REVISION_PARAMETER: set(), wd.TRAIN_IMAGE_PARAMETER: set()}
    for doc in applied:
        for p in _parameters(doc):
            if p["name"] in seen:
                seen[p["name"]].add(p.get("value"))
    assert seen == {wd.REPO_PARAMETER: {FORK}, wd.REVISION_PARAMETER: {BRANCH}, wd.TRAIN_IMAGE_PARAMETER: {tag}}
    text = json.dumps(list(_strings(applied)))
    assert wd.REPO_PLACEHOLDER not in text
    assert "gourmetgram-mlops" not in text and "mlops" not in text
    # Every URL is the fork, an in-cluster service or the pinned ImageNet backbone (train-args);
    # every clone takes the parameters.
    urls = {u for s in _strings(applied) for u in re.findall(r"(?:https?|git|ssh)://[^\s\"'}]+", s)}
    assert {u for u in urls if ".svc.cluster.local" not in u} == {FORK, PRETRAINED_URL}
    clones = [s for s in _strings(applied) if "git clone" in s]
    for script in clones:
        line = next(x for x in script.splitlines() if "git clone" in x)
        assert '--branch "{{workflow.parameters.branch}}" "{{workflow.parameters.repo-url}}"' in line


def test_the_nightly_run_clones_the_fork_at_the_branch(applied):
    (cron,) = [d for d in applied if d["kind"] == "CronWorkflow"]
    params = {p["name"]: p["value"] for p in _parameters(cron)}
    assert params == {"branch": BRANCH, "repo-url": FORK, wd.TRAIN_ARGS_PARAMETER: wd.default_train_args(FORK_SETTINGS)}


def test_a_training_nobody_chose_options_for_fine_tunes_the_pinned_backbone(applied):
    """The Argo Events Sensor `retrain` and cron-train pass no train-args: train-model's default must be
    `invoke train`'s real CPU training (ImageNet backbone by its sha256), not random weights, and parse."""
    from train import flow

    (template,) = [d for d in applied if d["kind"] == "WorkflowTemplate" and d["metadata"]["name"] == "train-model"]
    default = {p["name"]: p["value"] for p in _parameters(template)}[wd.TRAIN_ARGS_PARAMETER]
    assert default == food11.train_args(0, pretrained=(PRETRAINED_URL, PRETRAINED_SHA256))
    args = flow.parse_args([*default.split(), "--version-file", "/tmp/model_version"])
    assert args.init_checkpoint == PRETRAINED_URL and args.init_checkpoint_sha256 == PRETRAINED_SHA256
    assert not args.synthetic and str(args.data) == food11.DATA_DIR
    # Another pin in the settings is what gets rendered (one source: the settings).
    other = Settings(repo_url=FORK, repo_revision=BRANCH, pretrained_sha256="b0353104" + "0" * 56)
    assert ("b0353104" + "0" * 56) in wd.default_train_args(other)


def test_train_image_tag_matches_the_workflows_tr_command():
    for revision in ("main", "feature/x", "v1.2_rc-1", "a b+c"):
        out = subprocess.run(
            ["sh", "-c", "echo \"$1\" | tr -c 'A-Za-z0-9_.\\n-' '-'", "sh", revision],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert wd.branch_image_tag(revision) == out


def test_the_playbook_applies_the_rendered_file_only():
    (play,) = yaml.safe_load(wd.APPLY_PLAYBOOK.read_text())
    text = wd.APPLY_PLAYBOOK.read_text()
    assert "lookup('ansible.builtin.file', gg_workflow_manifest_file)" in text
    assert "'/workflows/'" not in text and "from_yaml_all" not in text
    assert play["vars"]["gg_workflow_templates"] == wd.applied_files()


def test_workflows_apply_writes_the_rendered_templates_then_runs_the_playbook(tmp_path, monkeypatch):
    monkeypatch.setattr(wd, "RENDERED_FILE", tmp_path / "workflow-templates.json")
    monkeypatch.setenv("GG_REPO_URL", FORK)
    monkeypatch.setenv("GG_REPO_REVISION", BRANCH)
    monkeypatch.setenv("GG_SETTINGS_FILE", str(REPO_ROOT / "settings.env.example"))
    ran = []
    monkeypatch.setattr(tasks, "_run_playbooks", lambda dry_run, steps: ran.extend(steps))
    tasks.workflows_apply(Context())
    rendered = json.loads((tmp_path / "workflow-templates.json").read_text())
    assert rendered["kind"] == "List" and "mlops" not in json.dumps(rendered)
    (step,) = ran
    assert f"gg_repo_revision={BRANCH}" in step.argv and f"gg_repo_url={FORK}" in step.argv


def test_one_off_builds_pass_the_repository_and_revision():
    for name in ("workflow_build_init.yml", "workflow_build_training_init.yml"):
        (play,) = yaml.safe_load((REPO_ROOT / "ansible/argocd" / name).read_text())
        assert play["vars"]["gg_branch"] == "{{ gg_repo_revision }}", name
        overrides = play["tasks"][-1]["vars"]["gg_workflow_overrides"]
        assert overrides == {"branch": "{{ gg_branch }}", "repo-url": "{{ gg_repo_url }}"}, name
    step = playbooks.build_training_init_steps(FORK_SETTINGS)[0]
    assert f"gg_branch={BRANCH}" in step.argv


def test_no_branch_is_hard_wired():
    """The revision is GG_REPO_REVISION: no `mlops` branch default in workflows, playbooks or code."""
    files = [*sorted((REPO_ROOT / "workflows").glob("*.yaml")), *sorted((REPO_ROOT / "gourmetgram").rglob("*.py"))]
    files += [p for p in sorted((REPO_ROOT / "ansible").rglob("*.yml")) if "kubespray" not in p.parts]
    for path in files:
        text = path.read_text()
        assert not re.search(r"(?m)(value|branch|gg_branch|BRANCH)\s*[:=]\s*[\"']?mlops[\"']?\s*$", text), path
        assert "DEFAULT_BRANCH" not in text, path
