"""The app's code as app/Dockerfile copies it: the one declaration the image and the bundles share.

app/Dockerfile's COPY lines of app/ and gourmetgram/ files say what code the app image
holds (the app and the shared modules it imports). The local bundles (bundles.py) are laid
out from the same lines, so a module added to the image is in every bundle too, and one left
out of the image is missing locally as well (tests/unit/local/test_local_bundle_is_the_image.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gourmetgram.errors import BadAnswer
from gourmetgram.paths import REPO_ROOT

DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
CODE_DIRS = ("app", "gourmetgram")
# As the build context's .dockerignore keeps out caches.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def code_copies(dockerfile: Path = DOCKERFILE) -> list[tuple[tuple[str, ...], str]]:
    """(sources, destination) of every COPY of code: sources under app/ or gourmetgram/."""
    copies = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "COPY" or any(w.startswith("--") for w in words[1:]):
            continue
        *sources, dest = words[1:]
        if all(src.split("/", 1)[0] in CODE_DIRS for src in sources):
            copies.append((tuple(sources), dest))
    if not copies:
        raise BadAnswer(f"{dockerfile} copies no app code (no COPY of app/ or gourmetgram/)")
    return copies


def lay_out(root: Path, repo: Path = REPO_ROOT, dockerfile: Path = DOCKERFILE) -> list[Path]:
    """Copy the app's code into root as the image's WORKDIR holds it; the files written."""
    for sources, dest in code_copies(dockerfile):
        target = root / dest.removeprefix("./")
        for src in sources:
            path = repo / src
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True, ignore=IGNORE)
            elif dest.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return sorted(p for p in root.rglob("*") if p.is_file())
