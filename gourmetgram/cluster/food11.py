"""Food-11 on the cluster: a persistent volume the training workflow reads, loaded by a Job.

`invoke data.food11` applies a PVC (`food11-data` in namespace argo, the
cluster's default StorageClass: local-path) and a Job that runs the training
image's `python -m train.fetch food11` (download from GG_FOOD11_URL with
progress, sha256 check against GG_FOOD11_SHA256, unpack, layout check) into
it, follows the Job's log and waits for it. The train-model workflow mounts
the same claim read-only at /data, so `--data /data/Food-11` is the real
dataset. The manifests are built here (not a chart): they are one-off, and the
workflow names the claim itself.

GPU: `invoke train` asks the cluster whether a node advertises nvidia.com/gpu
(the NVIDIA device plugin's resource) and then trains there with the full
preset; otherwise on CPU with the `cpu` preset, sized for the workflow's deadline.
"""

from __future__ import annotations

import json
import re

from gourmetgram import names
from gourmetgram.cluster import argo, ssh, workflow_defaults
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import BadAnswer, UsageError

PVC_NAME = "food11-data"
PVC_SIZE = "5Gi"  # the Food-11 zip is about 1.1 GB, unpacked about 1.2 GB; room for one reload
MOUNT_PATH = "/data"
DATA_DIR = f"{MOUNT_PATH}/Food-11"
JOB_NAME = "food11-load"
LOAD_TIMEOUT = "60m"
GPU_RESOURCE = "nvidia.com/gpu"
# train-model's run-training arguments per device: the preset each finishes within the deadline.
TRAIN_ARGS_GPU = f"--data {DATA_DIR} --preset full --device cuda"
TRAIN_ARGS_CPU = f"--data {DATA_DIR} --preset cpu --device cpu"
TRAIN_ARGS_SYNTHETIC = "--synthetic --preset ci"


def training_image(branch: str) -> str:
    """The training image build-training-init pushes for a branch (the workflows' tag rule)."""
    return f"{names.REGISTRY}/{names.TRAINING_IMAGE}:{workflow_defaults.branch_image_tag(branch)}"


def pvc_manifest() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": PVC_NAME, "namespace": argo.ARGO_NAMESPACE, "labels": _labels()},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": PVC_SIZE}}},
    }


def _labels() -> dict:
    return {"app.kubernetes.io/part-of": "gourmetgram", "app.kubernetes.io/component": "food11-data"}


def job_manifest(settings: Settings, branch: str, on_gpu_node: bool = False) -> dict:
    """The load Job. on_gpu_node: the cluster has a GPU node; local-path binds the volume to the node
    of its first pod, so the Job asks for the GPU briefly to put the data where GPU training runs."""
    settings.require("food11_url", "food11_sha256")
    limits = {"cpu": "1", "memory": "1Gi", **({GPU_RESOURCE: "1"} if on_gpu_node else {})}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB_NAME, "namespace": argo.ARGO_NAMESPACE, "labels": _labels()},
        "spec": {
            "backoffLimit": 1,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": _labels()},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "load",
                            "image": training_image(branch),
                            "command": [
                                "python", "-m", "train.fetch", "food11",
                                "--url", str(settings.food11_url),
                                "--sha256", str(settings.food11_sha256).lower(),
                                "--dest", DATA_DIR,
                            ],
                            "env": [{"name": "HOME", "value": "/tmp"}],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "512Mi"},
                                "limits": limits,
                            },
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [{"name": "data", "mountPath": MOUNT_PATH}],
                        }
                    ],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": PVC_NAME}}],
                },
            },
        },
    }  # fmt: skip


def _kubectl(settings: Settings, ip: str, *args: str, title: str, stdin: str | None = None, capture=False) -> Step:
    return ssh.remote_step(settings, ip, ["kubectl", "-n", argo.ARGO_NAMESPACE, *args], stdin=stdin,
                           capture=capture, title=title)  # fmt: skip


def _as_list(*manifests: dict) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)}, indent=2) + "\n"


def pvc_step(settings: Settings, ip: str) -> Step:
    """The claim alone (idempotent): `invoke train` applies it too, so the workflow's pod can start."""
    return _kubectl(settings, ip, "apply", "-f", "-", stdin=_as_list(pvc_manifest()),
                    title=f"persistent volume claim {PVC_NAME} ({PVC_SIZE})")  # fmt: skip


def load_steps(settings: Settings, ip: str, branch: str, on_gpu_node: bool = False) -> list[Step]:
    """Replace the load Job, follow its log (download progress), wait for it to complete."""
    job = job_manifest(settings, branch, on_gpu_node)
    return [
        pvc_step(settings, ip),
        _kubectl(settings, ip, "delete", "job", JOB_NAME, "--ignore-not-found", "--wait=true",
                 title="remove an earlier load Job"),
        _kubectl(settings, ip, "apply", "-f", "-", stdin=_as_list(job),
                 title=f"Job {JOB_NAME}: download {settings.food11_url}, check its sha256, unpack to {DATA_DIR}"),
        # Waits for the pod (image pull) up to 10 min, then streams the download progress until it ends.
        _kubectl(settings, ip, "logs", "-f", "job/" + JOB_NAME, "--pod-running-timeout=10m",
                 title="the Job's progress"),
        _kubectl(settings, ip, "wait", "--for=condition=complete", "job/" + JOB_NAME, f"--timeout={LOAD_TIMEOUT}",
                 title="the Job completed"),
    ]  # fmt: skip


def gpu_nodes_step(settings: Settings, ip: str) -> Step:
    remote = ["kubectl", "get", "nodes", "-o", "json"]
    return ssh.remote_step(settings, ip, remote, capture=True, title=f"nodes with {GPU_RESOURCE} (train on a GPU?)")


def gpu_count(nodes_json: str) -> int:
    """GPUs the cluster's nodes advertise as allocatable nvidia.com/gpu."""
    try:
        items = json.loads(nodes_json).get("items", [])
    except (ValueError, AttributeError):
        raise BadAnswer("kubectl get nodes did not answer JSON; is the cluster up (`invoke k8s`)?") from None
    total = 0
    for node in items:
        value = str(node.get("status", {}).get("allocatable", {}).get(GPU_RESOURCE, "0"))
        total += int(value) if value.isdigit() else 0
    return total


def train_args(
    gpus: int,
    synthetic: bool = False,
    init_checkpoint: tuple[str, str] | None = None,
    pretrained: tuple[str, str] | None = None,
) -> str:
    """run-training's train/flow.py arguments: real Food-11 unless synthetic is asked for.

    pretrained: (url, sha256) of an ImageNet backbone to fine-tune from (flow.py keeps its own head)."""
    if synthetic and init_checkpoint:
        raise UsageError("--synthetic trains the CI-size demo net from scratch: it takes no Food-11 checkpoint")
    if synthetic:
        return TRAIN_ARGS_SYNTHETIC
    if init_checkpoint:
        url, sha256 = init_checkpoint
        # The lab's emulated training: a full-size Food-11 checkpoint, no epochs; the gate judges it
        # on the real evaluation split (minutes, on CPU too).
        device = "cuda" if gpus > 0 else "cpu"
        return (
            f"--data {DATA_DIR} --preset full --device {device} "
            f"--init-checkpoint {url} --init-checkpoint-sha256 {sha256} --epochs 0"
        )
    args = TRAIN_ARGS_GPU if gpus > 0 else TRAIN_ARGS_CPU
    if pretrained:
        url, sha256 = pretrained
        prefix = re.search(r"-([0-9a-f]{8})\.pth$", url)
        if prefix and not sha256.lower().startswith(prefix.group(1)):
            raise UsageError(
                f"GG_PRETRAINED_SHA256 {sha256[:12]}... cannot be the sha256 of {url}: torchvision names its files "
                f"after their sha256's first 8 hex digits ({prefix.group(1)})"
            )
        args += f" --init-checkpoint {url} --init-checkpoint-sha256 {sha256}"
    return args
