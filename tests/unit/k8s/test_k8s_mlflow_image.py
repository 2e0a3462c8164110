"""MLflow on the cluster: a pinned image built from images/mlflow/, sized like the reference (issue 11, item 7)."""

from __future__ import annotations

import hashlib

import yaml

from gourmetgram import names, values

IMAGE_DIR = values.REPO_ROOT / "images/mlflow"


def image_digest() -> str:
    """12 hex digits over images/mlflow/{Dockerfile,requirements.txt}: the image tag's suffix."""
    h = hashlib.sha256()
    for name in ("Dockerfile", "requirements.txt"):
        h.update((IMAGE_DIR / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _mlflow(rendered) -> dict:
    return next(d for d in rendered[names.PLATFORM] if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow")


def test_the_mlflow_image_tag_follows_its_build_files():
    base = next(line for line in (IMAGE_DIR / "Dockerfile").read_text().splitlines() if line.startswith("FROM "))
    mlflow_version = base.rsplit(":", 1)[1]
    image = values.chart_values(names.PLATFORM)["mlflow"]["image"]
    expected = f"{names.REGISTRY}/gourmetgram-mlflow:{mlflow_version}-{image_digest()}"
    assert image == expected, f"images/mlflow/ changed: set mlflow.image in k8s/platform/values.yaml to {expected}"


def test_mlflow_starts_without_installing_anything(rendered):
    pod = _mlflow(rendered)["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    (container,) = pod["containers"]
    assert "pip" not in " ".join(container.get("command", []) + container.get("args", []))
    assert container["image"] == values.chart_values(names.PLATFORM)["mlflow"]["image"]


def test_mlflow_is_sized_like_the_reference(rendered):
    (container,) = _mlflow(rendered)["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["memory"] == "1Gi"
    assert container["resources"]["limits"]["memory"] == "2Gi"


def test_build_init_builds_the_image_the_chart_runs():
    """The one-off build reads the tag from the chart's values and builds images/mlflow/."""
    doc = yaml.safe_load((values.REPO_ROOT / "workflows/build-initial-buildkit.yaml").read_text())
    (template,) = [t for t in doc["spec"]["templates"] if t["name"] == "buildkit-mlflow"]
    source = template["script"]["source"]
    assert "--local context=/work/repo/images/mlflow" in source
    assert "--local dockerfile=/work/repo/images/mlflow" in source
    assert "/work/repo/k8s/platform/values.yaml" in source
    tasks = {t["name"]: t for t in doc["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["build-mlflow-image"]["template"] == "buildkit-mlflow"
    assert tasks["build-mlflow-image"]["depends"] == "clone-repo"


def test_the_build_reads_exactly_the_charts_image_from_the_values():
    import re
    import subprocess

    doc = yaml.safe_load((values.REPO_ROOT / "workflows/build-initial-buildkit.yaml").read_text())
    (template,) = [t for t in doc["spec"]["templates"] if t["name"] == "buildkit-mlflow"]
    (line,) = [x for x in template["script"]["source"].splitlines() if x.startswith('image="$(sed')]
    command = line.removeprefix('image="$(').removesuffix(')"').replace("/work/repo", str(values.REPO_ROOT))
    assert re.fullmatch(r"sed -n '[^']+' \S+", command)
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.strip()
    assert out == values.chart_values(names.PLATFORM)["mlflow"]["image"]
