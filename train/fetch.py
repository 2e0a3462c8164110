"""Downloads the training needs, pinned by sha256: a Food-11 archive, an initial checkpoint.

`fetch(url, sha256, dest)` streams http(s):// or file:// to dest with a
progress line every 10 %, and keeps the file only when its sha256 matches;
otherwise nothing is left at dest. `python -m train.fetch food11 --url U
--sha256 H --dest /data/Food-11` unpacks a Food-11 archive (zip or tar) into
the Food-11 layout, checks it, and skips all of it when dest already holds
that archive's data (the sha256 is recorded beside it).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from train import layout

_CHUNK = 1 << 20
MARKER = ".food11-sha256"


class FetchError(RuntimeError):
    """A download, checksum or archive problem; the message says which."""


def check_sha256(value: str | None, what: str) -> str:
    value = (value or "").strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise FetchError(f"{what}: a sha256 (64 hex digits) is required to download it, got {value!r}")
    return value


def fetch(url: str, sha256: str, dest: Path, say: Callable[[str], None] = print) -> Path:
    """Download url to dest; keep it only if its sha256 matches (else FetchError and no dest)."""
    want = check_sha256(sha256, url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = dest.with_name(dest.name + ".part")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=120) as answer, open(partial, "wb") as out:
            total = int(answer.headers.get("Content-Length") or 0)
            done, shown = 0, -10
            while chunk := answer.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                pct = done * 100 // total if total else -1
                if total and pct >= shown + 10:
                    shown = pct - pct % 10
                    rate = done / max(time.monotonic() - started, 1e-6) / 1e6
                    say(f"  {dest.name}: {pct:3d}% of {total / 1e6:.1f} MB ({rate:.1f} MB/s)")
    except (OSError, ValueError) as exc:  # URLError/HTTPError are OSError; ValueError: unknown URL type
        partial.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {exc}") from None
    got = digest.hexdigest()
    if got != want:
        partial.unlink(missing_ok=True)
        raise FetchError(f"sha256 mismatch for {url}: got {got}, expected {want}; nothing kept")
    partial.replace(dest)
    say(f"  {dest.name}: {done / 1e6:.1f} MB in {time.monotonic() - started:.1f}s, sha256 ok")
    return dest


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "file://"))


def _unpack(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise FetchError(f"{archive}: unsafe path {member!r} in the archive")
            zf.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")  # refuses absolute paths, '..' and device files
    else:
        raise FetchError(f"{archive} is neither a zip nor a tar archive")


def _find_root(tree: Path) -> Path:
    """The folder that holds training/validation/evaluation (the archive may wrap it in one folder)."""
    for candidate in [tree, *sorted(p for p in tree.rglob("*") if p.is_dir())]:
        if all((candidate / split).is_dir() for split in layout.SPLITS):
            return candidate
    raise FetchError(f"the archive has no Food-11 layout ({'/'.join(layout.SPLITS)} folders of class folders)")


def load_food11(url: str, sha256: str, dest: Path, say: Callable[[str], None] = print) -> dict[str, int]:
    """Food-11 at dest from the pinned archive; {split: images}. Skipped when dest already holds it."""
    want = check_sha256(sha256, url)
    dest = Path(dest)
    marker = dest / MARKER
    if marker.is_file() and marker.read_text().strip() == want:
        say(f"Food-11 already at {dest} (archive sha256 {want[:12]}...): nothing to do")
        return _count(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".food11-") as tmp:
        work = Path(tmp)
        say(f"downloading {url}")
        archive = fetch(url, want, work / "food11.archive", say)
        say("unpacking ...")
        _unpack(archive, work / "tree")
        archive.unlink()
        root = _find_root(work / "tree")
        counts = _count(root)
        if not all(counts.values()):
            raise FetchError(f"the archive's Food-11 layout has an empty split: {counts}")
        (root / MARKER).write_text(want + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        root.replace(dest)  # same filesystem: the data appears whole or not at all
    say(f"Food-11 at {dest}: " + ", ".join(f"{k} {v} images" for k, v in counts.items()))
    return counts


def _count(root: Path) -> dict[str, int]:
    """Images per split; FetchError for a class folder that names no Food-11 class or a missing class."""
    counts = {}
    for split in layout.SPLITS:
        folders = [p for p in (root / split).iterdir() if p.is_dir()]
        unknown = [p.name for p in folders if layout.class_index(p.name) is None]
        if unknown:
            raise FetchError(f"{split}/: folder(s) {', '.join(sorted(unknown))} name no Food-11 class")
        if len({layout.class_index(p.name) for p in folders}) != len(layout.names.CLASSES):
            raise FetchError(f"{split}/ has {len(folders)} class folders, Food-11 has {len(layout.names.CLASSES)}")
        counts[split] = sum(1 for f in folders for p in f.iterdir() if p.suffix.lower() in layout.IMAGE_SUFFIXES)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.fetch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    food = sub.add_parser("food11", help="download, verify and unpack the Food-11 archive")
    food.add_argument("--url", required=True)
    food.add_argument("--sha256", required=True)
    food.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        load_food11(args.url, args.sha256, args.dest, say=lambda line: print(line, flush=True))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
