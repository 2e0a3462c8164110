"""Food-11 on the cluster: the volume and load Job, GPU-or-CPU training, synthetic only when asked."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from invoke import Context, Exit

from gourmetgram.cluster import food11
from gourmetgram.cluster import settings as settings_mod
from gourmetgram.cluster.runner import Runner
from gourmetgram.paths import REPO_ROOT
from gourmetgram.tasks import cluster as tasks
from train import fetch, synthetic


def _kube_minor() -> str:
    version = yaml.safe_load((REPO_ROOT / "ansible" / "vars" / "versions.yml").read_text())["kube_version"]
    major, minor, _ = version.lstrip("v").split(".")
    return f"{major}.{minor}.0"


def _nodes(*gpus: int) -> str:
    """`kubectl get nodes -o json` as the API answers it (the fields the check reads), one node per entry."""
    items = []
    for i, n in enumerate(gpus, start=1):
        allocatable = {"cpu": "4", "memory": "8026724Ki", "pods": "110", "ephemeral-storage": "37569620724"}
        if n:
            allocatable[food11.GPU_RESOURCE] = str(n)
        items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node{i}"},
                      "status": {"allocatable": allocatable, "capacity": dict(allocatable)}})  # fmt: skip
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})


def test_manifests_are_valid_kubernetes_objects(settings):
    for manifest in (
        food11.pvc_manifest(),
        food11.job_manifest(settings, "main"),
        food11.job_manifest(settings, "x", True),
    ):
        kubernetes_validate.validate(manifest, _kube_minor(), strict=True)
    job = food11.job_manifest(settings, "mlops-bad", on_gpu_node=True)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.kube-system.svc.cluster.local:5000/gourmetgram-train:mlops-bad"
    assert container["resources"]["limits"][food11.GPU_RESOURCE] == "1"
    cpu_only = food11.job_manifest(settings, "main")["spec"]["template"]["spec"]["containers"][0]
    assert food11.GPU_RESOURCE not in cpu_only["resources"]["limits"]


def test_the_jobs_command_is_the_loader_that_works_here(settings, tmp_path):
    """Run the Job's own command line locally against a file:// archive: the contract holds."""
    tree = tmp_path / "src"
    synthetic.generate(tree, seed=2, images_per_class=1, image_size=16)
    archive = tmp_path / "food11.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in tree.rglob("*.jpg"):
            zf.write(p, f"Food-11/{p.relative_to(tree)}")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    job = food11.job_manifest(replace(settings, food11_url=archive.as_uri(), food11_sha256=sha), "main")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["python", "-m", "train.fetch", "food11"]
    args = command[3:]  # after `python -m train.fetch`
    args[args.index("--dest") + 1] = str(tmp_path / "data" / "Food-11")
    assert fetch.main(args) == 0
    assert (tmp_path / "data" / "Food-11" / "evaluation" / "Bread").is_dir()


def test_missing_or_bad_food11_settings_stop_the_task(settings, monkeypatch):
    monkeypatch.setattr(tasks, "load_settings", lambda: replace(settings, food11_url=None))
    with pytest.raises(Exit, match="GG_FOOD11_URL"):
        tasks.data_food11(Context(), dry_run=True)
    monkeypatch.setattr(tasks, "load_settings", lambda: replace(settings, food11_sha256="abc"))
    with pytest.raises(Exit, match="bad GG_FOOD11_SHA256 'abc'"):
        tasks.data_food11(Context(), dry_run=True)


def test_gpu_count_reads_allocatable_gpus():
    assert food11.gpu_count(_nodes(0, 0, 0)) == 0
    assert food11.gpu_count(_nodes(0, 1, 2)) == 3
    with pytest.raises(ValueError, match="did not answer JSON"):
        food11.gpu_count("error: the server doesn't have a resource type")


def test_train_args_real_data_by_default():
    assert food11.train_args(0) == "--data /data/Food-11 --preset cpu --device cpu"
    assert food11.train_args(1) == "--data /data/Food-11 --preset full --device cuda"
    assert food11.train_args(0, synthetic=True) == "--synthetic --preset ci"
    emulated = food11.train_args(0, init_checkpoint=("https://example.org/food11.pth", "a" * 64))
    assert emulated.startswith("--data /data/Food-11 --preset full --device cpu --init-checkpoint https://")
    assert emulated.endswith(f"--init-checkpoint-sha256 {'a' * 64} --epochs 0")
    with pytest.raises(ValueError, match="no Food-11 checkpoint"):
        food11.train_args(0, synthetic=True, init_checkpoint=("u", "s"))


class FakeRunner(Runner):
    """A real run whose ssh answers come from recorded outputs; records every step."""

    def __init__(self, nodes_json: str):
        super().__init__(dry_run=False, echo=lambda line: None)
        self.nodes_json = nodes_json

    def run(self, step):
        self.executed.append(step)
        line = step.render()
        if "kubectl get nodes -o json" in line:
            return self.nodes_json
        if "kubectl create -n argo" in line:
            return "workflow.argoproj.io/train-model-x7k2p\n"
        return ""


def _submitted(runner: FakeRunner) -> dict[str, str]:
    wf = json.loads(runner.executed[-1].stdin)
    return {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}


@pytest.mark.parametrize(
    ("nodes", "flags", "args", "gpus"),
    [
        (_nodes(0, 0, 0), {}, food11.TRAIN_ARGS_CPU, "0"),
        (_nodes(0, 1, 0), {}, food11.TRAIN_ARGS_GPU, "1"),
        (_nodes(0, 1, 0), {"synthetic": True}, food11.TRAIN_ARGS_SYNTHETIC, "0"),
    ],
    ids=["cpu", "gpu", "synthetic"],
)
def test_train_task_picks_gpu_or_cpu_and_real_data(monkeypatch, example_process_env, nodes, flags, args, gpus):
    runner = FakeRunner(nodes)
    monkeypatch.setattr(tasks, "Runner", lambda dry_run=False: runner)
    tasks.train(Context(), **flags)
    params = _submitted(runner)
    # (then the pinned ImageNet backbone, except for synthetic data: see the next tests)
    assert params["train-args"].startswith(args) and params["gpus"] == gpus
    assert ("--init-checkpoint" in params["train-args"]) == (not flags)
    # The claim the workflow mounts is applied before the submit.
    assert any("PersistentVolumeClaim" in (s.stdin or "") for s in runner.executed[:-1])


def test_train_emulate_uses_the_pinned_checkpoint(monkeypatch, example_process_env):
    runner = FakeRunner(_nodes(0, 0, 0))
    monkeypatch.setattr(tasks, "Runner", lambda dry_run=False: runner)
    tasks.train(Context(), emulate=True)
    args = _submitted(runner)["train-args"]
    assert "--init-checkpoint https://example.org/models/food11.pth --init-checkpoint-sha256 8e7d6c" in args
    assert args.endswith("--epochs 0")


def test_data_food11_on_a_gpu_cluster_loads_onto_the_gpu_node(monkeypatch, example_process_env):
    runner = FakeRunner(_nodes(0, 0, 1))
    monkeypatch.setattr(tasks, "Runner", lambda dry_run=False: runner)
    tasks.data_food11(Context())
    lines = [s.render().split("\n")[0] for s in runner.executed]
    assert [line.split("'kubectl ")[1].split()[:4] for line in lines[1:]] == [
        ["-n", "argo", "apply", "-f"],
        ["-n", "argo", "delete", "job"],
        ["-n", "argo", "apply", "-f"],
        ["-n", "argo", "logs", "-f"],
        ["-n", "argo", "wait", "--for=condition=complete"],
    ]
    job = json.loads(runner.executed[3].stdin)["items"][0]
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][food11.GPU_RESOURCE] == "1"


def test_train_model_workflow_mounts_the_claim_and_defaults_to_food11():
    wf = yaml.safe_load((REPO_ROOT / "workflows" / "train-model.yaml").read_text())
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params["train-args"].startswith(f"--data {food11.DATA_DIR} ") and "--synthetic" not in params["train-args"]
    assert params["gpus"] == "0"
    (volume,) = [v for v in wf["spec"]["volumes"] if v["name"] == "food11"]
    assert volume["persistentVolumeClaim"]["claimName"] == food11.PVC_NAME
    (training,) = [t for t in wf["spec"]["templates"] if t["name"] == "run-training"]
    assert {"name": "food11", "mountPath": food11.MOUNT_PATH, "readOnly": True} in training["script"]["volumeMounts"]
    patch = json.loads(training["podSpecPatch"].replace("{{workflow.parameters.gpus}}", "1"))
    assert patch["containers"][0]["resources"]["limits"][food11.GPU_RESOURCE] == "1"


def test_build_init_version_0_says_placeholder(tmp_path):
    """Run build-init's initial-model program (from the workflow file) here: its model.json says placeholder."""
    from app import app as app_module

    wf = yaml.safe_load((REPO_ROOT / "workflows" / "build-initial-buildkit.yaml").read_text())
    (template,) = [t for t in wf["spec"]["templates"] if t["name"] == "initial-model"]
    program = template["script"]["source"].split("<<'PY'\n", 1)[1].rsplit("PY\n", 1)[0]
    program = program.replace('Path("/work/repo")', f"Path({str(tmp_path)!r})")
    exec(compile(program, "initial-model", "exec"), {})  # noqa: S102 - the workflow's own program
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["data_source"] == "placeholder"
    page = app_module.create_app(tmp_path / "model", tmp_path / "versions.txt").test_client().get("/")
    assert "placeholder model (untrained)" in page.get_data(as_text=True)
    assert Path(tmp_path / "versions.txt").read_text().strip() == "1.0.0"


def test_real_training_fine_tunes_the_pinned_imagenet_backbone(monkeypatch, example_process_env):
    url = "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"
    args = food11.train_args(0, pretrained=(url, "b0353104" + "1" * 56))
    assert args == f"{food11.TRAIN_ARGS_CPU} --init-checkpoint {url} --init-checkpoint-sha256 b0353104{'1' * 56}"
    assert "--epochs" not in args  # trained, not emulated
    with pytest.raises(ValueError, match="first 8 hex digits"):
        food11.train_args(0, pretrained=(url, "c" * 64))
    # The task passes the pinned ImageNet checkpoint by default (the example settings leave it as it is).
    runner = FakeRunner(_nodes(0, 0, 0))
    monkeypatch.setattr(tasks, "Runner", lambda dry_run=False: runner)
    tasks.train(Context())
    assert _submitted(runner)["train-args"].endswith(
        f"--init-checkpoint {url} --init-checkpoint-sha256 {settings_mod.PRETRAINED_SHA256}"
    )
