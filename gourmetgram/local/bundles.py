"""The local registry of immutable app bundles, tagged like the cluster's images.

A bundle <state>/registry/<env>-1.0.N/ holds what the app image holds:
    versions.txt       1.0.N
    model/             the registered artifact (model.onnx + model.json)
    app/, gourmetgram/ the app's code: exactly what app/Dockerfile's COPY lines put in the image
                       (image_copies.py reads them: one declaration for both)
    manifest.json      sha256 and size of every file above
Bundles are built in a temp dir and renamed into place, then made read-only.
A deploy verifies the manifest first: a truncated or altered bundle is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from gourmetgram import names
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.local import image_copies
from gourmetgram.local.state import PlatformError
from gourmetgram.paths import REPO_ROOT

MANIFEST = "manifest.json"


class BundleError(PlatformError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(root: Path) -> dict:
    files = {str(p.relative_to(root)): {"sha256": _sha256(p), "size": p.stat().st_size} for p in _files(root)}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    manifest = {"digest": f"sha256:{digest}", "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def verify(root: Path) -> str:
    """The bundle's digest if every file matches its manifest, else BundleError naming the first problem."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        raise BundleError(f"bundle {root.name} has no {MANIFEST} (not built by the platform?)") from None
    except (ValueError, KeyError):
        raise BundleError(f"bundle {root.name}: {MANIFEST} is corrupted") from None
    present = {str(p.relative_to(root)) for p in _files(root)}
    for rel, meta in files.items():
        path = root / rel
        if rel not in present:
            raise BundleError(f"bundle {root.name}: {rel} is missing")
        if path.stat().st_size != meta["size"]:
            raise BundleError(f"bundle {root.name}: {rel} has {path.stat().st_size} bytes, expected {meta['size']}")
        if _sha256(path) != meta["sha256"]:
            raise BundleError(f"bundle {root.name}: {rel} does not match its sha256 (altered or corrupted)")
    extra = sorted(present - set(files))
    if extra:
        raise BundleError(f"bundle {root.name}: unexpected files {extra[:5]}")
    return manifest["digest"]


def _freeze(root: Path) -> None:
    for p in [*root.rglob("*"), root]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _thaw(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


class BundleRegistry:
    """<state>/registry: tags -> bundle directories."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, env: str, model_version: int) -> Path:
        return self.root / names.image_tag(env, model_version)

    def tags(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def exists(self, env: str, model_version: int) -> bool:
        return self.path(env, model_version).is_dir()

    def _publish(self, tmp: Path, dest: Path) -> None:
        write_manifest(tmp)
        _freeze(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            _thaw(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
            if dest.is_dir():  # someone published the same tag first
                return
            raise

    def build(self, model_version: int, registry: Registry) -> str:
        """staging-1.0.N from the registered model and this checkout's app code. Existing tags are kept."""
        tag = names.image_tag(names.STAGING, model_version)
        dest = self.root / tag
        if dest.is_dir():
            verify(dest)
            return tag
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{tag}."))
        try:
            registry.fetch_model(model_version, tmp)
            app_src = REPO_ROOT / "app"
            if not (app_src / "app.py").is_file():
                raise BundleError(f"no app code at {app_src} (app/app.py missing)")
            image_copies.lay_out(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._publish(tmp, dest)
        return tag

    def copy_tag(self, source_env: str, target_env: str, model_version: int) -> str:
        """<target>-1.0.N := <source>-1.0.N (verified first; an existing target must be identical)."""
        src = self.path(source_env, model_version)
        dest = self.path(target_env, model_version)
        if not src.is_dir():
            raise BundleError(f"no bundle {src.name} to copy")
        digest = verify(src)
        if dest.is_dir():
            if verify(dest) != digest:
                raise BundleError(f"{dest.name} exists with different content than {src.name}")
            return dest.name
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{dest.name}."))
        tmp.rmdir()
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(MANIFEST))
        _thaw(tmp)
        self._publish(tmp, dest)
        if verify(dest) != digest:
            raise BundleError(f"copy {src.name} -> {dest.name} changed the content")
        return dest.name
