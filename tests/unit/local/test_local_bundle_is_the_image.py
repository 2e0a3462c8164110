"""A local bundle ships the same code as the app image: the files app/Dockerfile's COPY lines
put in the image, no more and no fewer, and the app runs from a bundle's copy alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gourmetgram import names
from gourmetgram.local import image_copies
from gourmetgram.local.bundles import MANIFEST, BundleRegistry, verify
from gourmetgram.paths import REPO_ROOT

VERSION = 7


class _Registry:
    """fetch_model as MLflow's: out/model (model.json + a model file) and out/versions.txt."""

    def fetch_model(self, model_version, out_dir):
        model = Path(out_dir) / "model"
        model.mkdir(parents=True)
        (model / "model.json").write_text(json.dumps({"classes": list(names.CLASSES)}))
        (model / "model.onnx").write_bytes(b"not a real model: the app stays unready")
        (Path(out_dir) / "versions.txt").write_text(names.version_string(model_version) + "\n")
        return model


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    registry = BundleRegistry(tmp_path_factory.mktemp("registry"))
    tag = registry.build(VERSION, _Registry())
    root = registry.root / tag
    verify(root)
    return root


def _image_code_files() -> set[str]:
    """The image's code files, read from the Dockerfile here independently of image_copies: every
    COPY whose sources are repository paths under app/ or gourmetgram/ (not the model ARGs)."""
    files: set[str] = set()
    for line in (REPO_ROOT / "app" / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY ") or "${" in line:
            continue
        *sources, dest = line.split()[1:]
        for src in sources:
            path = REPO_ROOT / src
            if src.startswith(("app/", "gourmetgram/")) and path.is_dir():
                base = dest.removeprefix("./").rstrip("/")
                files |= {
                    f"{base}/{p.relative_to(path).as_posix()}"
                    for p in path.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts
                }
            elif src.startswith(("app/", "gourmetgram/")):
                files.add(f"{dest.removeprefix('./').rstrip('/')}/{path.name}")
    return files


def test_the_bundle_holds_exactly_the_images_code(bundle):
    code = {
        p.relative_to(bundle).as_posix()
        for p in bundle.rglob("*")
        if p.is_file() and p.name != MANIFEST and p.relative_to(bundle).parts[0] not in ("model",)
    } - {"versions.txt"}
    image = _image_code_files()
    assert "gourmetgram/names.py" in image and "app/app.py" in image
    assert code == image, f"bundle only: {sorted(code - image)}; image only: {sorted(image - code)}"


def test_the_declaration_is_the_dockerfile(tmp_path):
    """A module added to the Dockerfile's COPY line is in the next bundle layout too."""
    dockerfile = tmp_path / "Dockerfile"
    text = (REPO_ROOT / "app" / "Dockerfile").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("COPY gourmetgram/"))
    dockerfile.write_text(text.replace(line, line.replace(" ./gourmetgram/", " gourmetgram/values.py ./gourmetgram/")))
    laid = image_copies.lay_out(tmp_path / "out", dockerfile=dockerfile)
    assert tmp_path / "out" / "gourmetgram" / "values.py" in laid
    image_copies.lay_out(tmp_path / "as-is")  # the real Dockerfile does not ship values.py
    assert not (tmp_path / "as-is" / "gourmetgram" / "values.py").exists()


PROBE = """
import json, sys
bundle = sys.argv[1]
sys.path.insert(0, bundle)
sys.modules["torch"] = None  # the image has no torch
sys.modules["train"] = None  # nor the training code
from app.app import create_app
client = create_app(bundle + "/model", bundle + "/versions.txt").test_client()
print(json.dumps({
    "files": sorted({m.__file__ for n, m in sys.modules.items()
                     if n.split(".")[0] in ("app", "gourmetgram") and getattr(m, "__file__", None)}),
    "healthz": client.get("/healthz").status_code,
    "version": client.get("/version").get_json(),
}))
"""


def test_the_app_runs_from_a_bundle_copy_alone(bundle):
    # -I: no PYTHONPATH, no current directory, no user site: the checkout is not importable,
    # only the bundle (inserted first) and the installed third-party packages.
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(bundle)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    outside = [f for f in result["files"] if not f.startswith(str(bundle))]
    assert not outside, f"imported from outside the bundle: {outside}"
    assert any(f.endswith("gourmetgram/names.py") for f in result["files"])
    assert result["healthz"] == 200
    assert result["version"] == {"model_version": names.version_string(VERSION)}
