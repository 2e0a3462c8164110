"""What app/Dockerfile copies is enough to serve, without torch or the training code.

No container engine here, so the test lays out exactly the files the
Dockerfile's COPY lines name (as the image's /app) and runs the app from there
with torch and train made unimportable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from gourmetgram.paths import REPO_ROOT as REPO

DOCKERFILE = REPO / "app" / "Dockerfile"


def code_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of the COPY lines that bring in code (not the model or the dependency pins)."""
    copies = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "${" not in line:
            *sources, dest = line.split()[1:]
            if "pyproject.toml" not in sources:
                copies.append((sources, dest))
    return copies


def lay_out_image(root: Path) -> None:
    for sources, dest in code_copies():
        target = root / dest.removeprefix("./")
        for src in sources:
            path = REPO / src
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target / path.name)


PROBE = """
import json, sys
sys.modules["torch"] = None  # the app image has no torch
sys.modules["train"] = None  # nor the training code
from app.app import create_app
client = create_app(sys.argv[1], sys.argv[2]).test_client()
print(json.dumps({
    "app_file": sys.modules["app.app"].__file__,
    "gourmetgram": sorted(m for m in sys.modules if m.startswith("gourmetgram")),
    "readyz": client.get("/readyz").status_code,
    "test": client.get("/test").get_data(as_text=True),
    "version": client.get("/version").get_json(),
}))
"""


def test_the_image_files_serve_without_torch(tmp_path, tiny_model_dir, version_file):
    image_root = tmp_path / "app-image"
    lay_out_image(image_root)
    assert (image_root / "app" / "static" / "test.jpg").is_file()
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tiny_model_dir), str(version_file)],
        cwd=image_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["app_file"].startswith(str(image_root)), "the app must run from the image's copy"
    copied = {p.stem for p in (image_root / "gourmetgram").glob("*.py")}
    imported = {m.split(".")[1] if "." in m else "__init__" for m in result["gourmetgram"]}
    assert imported <= copied, f"the app imports gourmetgram modules the Dockerfile does not copy: {imported - copied}"
    assert result["readyz"] == 200
    assert result["version"] == {"model_version": "1.0.4"}
    from gourmetgram import names

    assert result["test"] in names.CLASSES


def test_the_image_installs_only_the_app_extra_without_torch():
    text = DOCKERFILE.read_text()
    assert '-c constraints.txt ".[app]"' in text
    import tomllib

    app_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["app"]
    assert not any(dep.lower().startswith("torch") for dep in app_extra)
    from gourmetgram import values

    port = values.container_port()  # the Helm values' containerPort
    assert f"EXPOSE {port}" in text and f'"0.0.0.0:{port}"' in text
    assert "USER 10001" in text
