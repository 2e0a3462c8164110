"""Every file in workflows/ parses with hera's Argo models in strict mode (extra fields
rejected), Workflow manifests embedded in `resource` templates included, and keeps the
lab's names and parameters. Deep cross-checks (references, pins, checkov) are in tests/iac."""

from __future__ import annotations

import re

import pytest
import yaml
from hera.workflows.models import CronWorkflow, Workflow, WorkflowTemplate

from gourmetgram import names, values
from gourmetgram.cluster.settings import Settings

WORKFLOWS_DIR = values.REPO_ROOT / "workflows"
MODELS = {"Workflow": Workflow, "WorkflowTemplate": WorkflowTemplate, "CronWorkflow": CronWorkflow}

# The eight files of the lab plus analyze-canary (the canary analysis after promote-to-canary),
# with the parameters each declares (name -> default, None = required).
# The files default the revision to GG_REPO_REVISION's default; `invoke workflows.apply` writes the setting.
REVISION = Settings().repo_revision
EXPECTED = {
    "build-initial-buildkit.yaml": ("Workflow", {"branch": REVISION}),
    "build-training-initial-buildkit.yaml": ("Workflow", {"branch": REVISION}),
    "train-model.yaml": ("WorkflowTemplate", {"branch": REVISION, "bad-model": "false"}),
    "build-container-image.yaml": ("WorkflowTemplate", {"model-version": None}),
    "deploy-container-image.yaml": ("WorkflowTemplate", {"environment": None, "model-version": None}),
    "test-staging.yaml": ("WorkflowTemplate", {"model-version": None}),
    "promote-model.yaml": (
        "WorkflowTemplate",
        {"source-environment": "canary", "target-environment": "production", "model-version": None},
    ),
    "cron-train.yaml": ("CronWorkflow", {}),
    "analyze-canary.yaml": ("WorkflowTemplate", {"model-version": None}),
}


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / name).read_text())


def _embedded(doc) -> list[dict]:
    """Manifests inside `resource.manifest` strings, recursively."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "manifest" and isinstance(value, str):
                inner = yaml.safe_load(value)
                found.append(inner)
                found.extend(_embedded(inner))
            else:
                found.extend(_embedded(value))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_embedded(item))
    return found


def test_exactly_the_lab_workflows_and_the_canary_analysis():
    assert sorted(p.name for p in WORKFLOWS_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflow_is_valid_for_hera_strict(name):
    doc = _load(name)
    kind, _params = EXPECTED[name]
    assert doc["kind"] == kind
    MODELS[kind].model_validate(doc, extra="forbid")
    for inner in _embedded(doc):
        MODELS[inner["kind"]].model_validate(inner, extra="forbid")


def test_strict_validation_catches_a_misspelled_field():
    doc = _load("train-model.yaml")
    doc["spec"]["templates"][0]["stepz"] = doc["spec"]["templates"][0].pop("steps")
    with pytest.raises(ValueError, match="stepz"):
        WorkflowTemplate.model_validate(doc, extra="forbid")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameters_match_the_lab(name):
    doc = _load(name)
    _kind, expected = EXPECTED[name]
    declared = {p["name"]: p.get("value") for p in (doc["spec"].get("arguments") or {}).get("parameters", [])}
    for param, default in expected.items():
        assert param in declared, f"{name}: parameter {param} missing"
        assert declared[param] == default, f"{name}: {param} defaults to {declared[param]!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_image_is_pinned_and_templates_use_the_project_names(name):
    text = (WORKFLOWS_DIR / name).read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", text, flags=re.M)
    for image in images:
        last = image.rsplit("/", 1)[-1]
        assert ":" in last and not last.endswith(":latest"), f"{name}: {image} is not pinned"
    for ref in re.findall(r"gourmetgram-(?:app|train):", text):
        assert ref.split(":")[0] in (names.APP_IMAGE, names.TRAINING_IMAGE)
    for registry_ref in re.findall(r"(\S+)/gourmetgram-(?:app|train):", text):
        assert registry_ref.endswith(names.REGISTRY), f"{name}: {registry_ref}"


def test_cron_train_runs_train_model_daily_at_two_utc():
    doc = _load("cron-train.yaml")
    spec = doc["spec"]
    assert spec["schedules"] == ["0 2 * * *"] and spec["timezone"] == "UTC"
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 3
    assert spec["workflowSpec"]["workflowTemplateRef"]["name"] == "train-model"


def test_mlflow_steps_run_the_lifecycle_cli_and_never_pip_install():
    for name in EXPECTED:
        text = (WORKFLOWS_DIR / name).read_text()
        assert "pip install" not in text, name
        if "MLFLOW_TRACKING_URI" in text:
            port = values.mlflow_port()
            assert f"http://mlflow.{names.namespace(names.PLATFORM)}.svc.cluster.local:{port}" in text, name
    for name, alias in [
        ("train-model.yaml", names.ALIAS_DEVELOPMENT),
        ("build-container-image.yaml", names.ALIAS_STAGING),
    ]:
        text = (WORKFLOWS_DIR / name).read_text()
        assert re.search(rf"set-alias, --alias, {alias},", text), name


def test_deploy_sets_the_environment_image_tag_through_argocd():
    text = (WORKFLOWS_DIR / "deploy-container-image.yaml").read_text()
    m = re.search(r"--helm-set-string (image\.tag=\S+)", text)
    assert m, "no --helm-set-string image.tag=..."
    expr = m.group(1).replace("{{workflow.parameters.environment}}", "canary")
    expr = expr.replace("{{workflow.parameters.model-version}}", "12")
    assert expr == f"image.tag={names.image_tag(names.CANARY, 12)}"
    assert 'app="gourmetgram-{{workflow.parameters.environment}}"' in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflows_run_as_the_platform_charts_service_account(name):
    doc = _load(name)
    spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
    assert spec["serviceAccountName"] == values.chart_values(names.PLATFORM)["workflows"]["serviceAccount"]
    assert doc["metadata"]["namespace"] == values.chart_values(names.PLATFORM)["workflows"]["namespace"]


def test_each_image_has_one_pin_across_workflows_and_argocd_matches_the_cluster():
    pins: dict[str, set[str]] = {}
    for name in EXPECTED:
        for image in re.findall(r"^\s*image:\s*(\S+)", (WORKFLOWS_DIR / name).read_text(), flags=re.M):
            repo, tag = image.rsplit(":", 1)
            if "{{" not in tag:
                pins.setdefault(repo, set()).add(tag)
    assert {repo: tags for repo, tags in pins.items() if len(tags) > 1} == {}
    versions = yaml.safe_load((values.REPO_ROOT / "ansible" / "vars" / "versions.yml").read_text())
    assert pins["quay.io/argoproj/argocd"] == {versions["argocd_version"]}


def _lifecycle_calls():
    """(file, template, argv) of every step that runs `python -m gourmetgram.lifecycle`, placeholders filled in."""
    samples = {"model-version": "3", "timeout": "180", "target-environment": "canary", "restore-version": "2"}

    def fill(arg: str) -> str:
        return re.sub(r"\{\{[^}]*?([\w-]+)\}\}", lambda m: samples.get(m.group(1), m.group(1)), str(arg))

    for name in EXPECTED:
        for template in _load(name)["spec"].get("templates", []):
            container = template.get("container") or {}
            if container.get("command") == ["python", "-m", "gourmetgram.lifecycle"]:
                yield name, template["name"], [fill(a) for a in container["args"]]


def test_lifecycle_steps_match_the_cli():
    from gourmetgram.lifecycle.__main__ import build_parser

    calls = list(_lifecycle_calls())
    assert {argv[0] for _, _, argv in calls} == {"set-alias", "fetch-model", "test-staging"}
    for name, template, argv in calls:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{name} {template}: the lifecycle CLI rejects {argv}")


def test_canary_analysis_steps_match_its_cli():
    from gourmetgram.canary.__main__ import build_parser

    doc = _load("analyze-canary.yaml")
    calls = [
        (t["name"], t["container"]["args"])
        for t in doc["spec"]["templates"]
        if (t.get("container") or {}).get("command") == ["python", "-m", "gourmetgram.canary"]
    ]
    assert {argv[0] for _, argv in calls} == {"analyze", "set-weights"}
    for template, argv in calls:
        argv = [re.sub(r"\{\{[^}]*\}\}", "3", a) for a in argv]
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"analyze-canary {template}: the canary CLI rejects {argv}")
        if args.command == "analyze":
            # The workflow reads the verdict and the restore version from where analyze writes them.
            outs = next(t for t in doc["spec"]["templates"] if t["name"] == template)["outputs"]["parameters"]
            assert {o["valueFrom"]["path"] for o in outs} == {f"{args.out}/verdict", f"{args.out}/restore-version"}


@pytest.mark.parametrize("bad_model", ["false", "true"])
def test_run_training_arguments_parse_with_train_flow(bad_model):
    from train import flow

    doc = _load("train-model.yaml")
    params = {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}
    source = next(t for t in doc["spec"]["templates"] if t["name"] == "run-training")["script"]["source"]
    assert "python train/flow.py" in source and "--artifact-format state-dict" in source
    argv = params["train-args"].split() + (["--artifact-format", "state-dict"] if bad_model == "true" else [])
    args = flow.parse_args([*argv, "--version-file", "/tmp/model_version"])
    assert args.artifact_format == ("state-dict" if bad_model == "true" else "onnx")
    # Real Food-11 from the volume by default (synthetic only when `invoke train --synthetic` asks).
    assert not args.synthetic and str(args.data) == "/data/Food-11" and args.preset == "cpu"
    # Every train-args `invoke train` submits parses too.
    from gourmetgram.cluster import food11

    for choice in (food11.train_args(0), food11.train_args(1), food11.train_args(0, synthetic=True),
                   food11.train_args(1, init_checkpoint=("https://example.org/food11.pth", "a" * 64))):  # fmt: skip
        flow.parse_args([*choice.split(), "--version-file", "/tmp/model_version"])


def test_build_steps_agree_with_the_dockerfiles():
    """fetch-model writes <context>/model and <context>/versions.txt, which app/Dockerfile copies by default;
    the training image's working directory holds train/ and gourmetgram/ (python train/flow.py, python -m ...)."""
    app_dockerfile = (values.REPO_ROOT / "app" / "Dockerfile").read_text()
    assert re.search(r"^ARG MODEL_DIR=model$", app_dockerfile, flags=re.M)
    assert re.search(r"^ARG VERSION_FILE=versions.txt$", app_dockerfile, flags=re.M)
    build = (WORKFLOWS_DIR / "build-container-image.yaml").read_text()
    assert 'fetch-model, --version, "{{workflow.parameters.model-version}}", --out, /work/repo]' in build
    assert "--local context=/work/repo" in build and "--local dockerfile=/work/repo/app" in build
    train_dockerfile = (values.REPO_ROOT / "train" / "Dockerfile").read_text()
    workdir = re.findall(r"^WORKDIR (\S+)$", train_dockerfile, flags=re.M)[-1]
    for package in ("train", "gourmetgram"):
        assert re.search(rf"^COPY {package}/ \./{package}/$", train_dockerfile, flags=re.M), package
    assert workdir.startswith("/")


def test_every_shell_script_is_valid_sh():
    """`sh -n` on each script template (placeholders filled in): a quoting slip fails here, not on the cluster."""
    import subprocess

    checked = 0
    for name in EXPECTED:
        for template in _load(name)["spec"].get("templates", []):
            script = template.get("script")
            if not script or script["command"][0] != "sh":
                continue
            source = re.sub(r"\{\{[^}]*\}\}", "x", script["source"])
            result = subprocess.run(["sh", "-n"], input=source, capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{name} {template['name']}: {result.stderr}"
            checked += 1
    assert checked >= 10
