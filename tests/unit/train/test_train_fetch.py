"""train/fetch.py: pinned downloads (file:// here) and the Food-11 archive loaded into its layout."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from train import fetch, layout, synthetic


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("food11-src") / "Food-11"
    synthetic.generate(root, seed=3, images_per_class=1, image_size=16)
    return root


def _zip(tree: Path, out: Path, prefix: str = "Food-11") -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(tree.rglob("*")):
            if p.is_file():
                zf.write(p, f"{prefix}/{p.relative_to(tree)}" if prefix else str(p.relative_to(tree)))
    return out


def test_fetch_keeps_only_a_matching_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 3_000_000)
    lines: list[str] = []
    got = fetch.fetch(src.as_uri(), _sha(src), tmp_path / "out" / "copy.bin", lines.append)
    assert got.read_bytes() == src.read_bytes()
    assert any("100%" in line for line in lines) and "sha256 ok" in lines[-1]
    with pytest.raises(fetch.FetchError, match="sha256 mismatch"):
        fetch.fetch(src.as_uri(), "f" * 64, tmp_path / "out" / "bad.bin", lines.append)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copy.bin"]  # no .part, no bad.bin
    with pytest.raises(fetch.FetchError, match="could not download"):
        fetch.fetch((tmp_path / "missing").as_uri(), "f" * 64, tmp_path / "out" / "m.bin", lines.append)
    with pytest.raises(fetch.FetchError, match="64 hex digits"):
        fetch.fetch(src.as_uri(), "", tmp_path / "out" / "n.bin", lines.append)


def test_food11_zip_is_unpacked_checked_and_then_skipped(tree, tmp_path):
    archive = _zip(tree, tmp_path / "food11.zip")
    dest = tmp_path / "data" / "Food-11"
    lines: list[str] = []
    counts = fetch.load_food11(archive.as_uri(), _sha(archive), dest, lines.append)
    assert counts == {split: n * 11 for split, n in synthetic.split_sizes(1).items()}
    assert sorted(p.name for p in (dest / layout.TRAINING).iterdir())[0] == "Bread"
    assert (dest / fetch.MARKER).read_text().strip() == _sha(archive)
    assert [p.name for p in dest.parent.iterdir()] == ["Food-11"]  # no temporary folders left
    lines.clear()
    fetch.load_food11(archive.as_uri(), _sha(archive), dest, lines.append)
    assert "already at" in lines[0] and len(lines) == 1


def test_food11_tar_without_a_wrapping_folder(tree, tmp_path):
    archive = tmp_path / "food11.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for split in layout.SPLITS:
            tf.add(tree / split, split)
    counts = fetch.load_food11(archive.as_uri(), _sha(archive), tmp_path / "d", lambda _l: None)
    assert counts[layout.EVALUATION] == synthetic.split_sizes(1)[layout.EVALUATION] * 11


def test_food11_wrong_sha256_or_layout_leaves_nothing(tree, tmp_path):
    archive = _zip(tree, tmp_path / "food11.zip")
    dest = tmp_path / "data" / "Food-11"
    with pytest.raises(fetch.FetchError, match="sha256 mismatch"):
        fetch.load_food11(archive.as_uri(), "0" * 64, dest, lambda _l: None)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    broken = tmp_path / "broken"
    shutil.copytree(tree, broken)
    (broken / layout.TRAINING / "Pizza").mkdir()
    shutil.copy(next((broken / layout.TRAINING / "Bread").iterdir()), broken / layout.TRAINING / "Pizza" / "a.jpg")
    bad = _zip(broken, tmp_path / "bad.zip")
    with pytest.raises(fetch.FetchError, match="Pizza name no Food-11 class"):
        fetch.load_food11(bad.as_uri(), _sha(bad), dest, lambda _l: None)
    assert not dest.exists()


def test_command_line_exit_codes(tree, tmp_path, capsys):
    archive = _zip(tree, tmp_path / "food11.zip")
    dest = tmp_path / "Food-11"
    assert fetch.main(["food11", "--url", archive.as_uri(), "--sha256", _sha(archive), "--dest", str(dest)]) == 0
    assert fetch.main(["food11", "--url", archive.as_uri(), "--sha256", "1" * 64, "--dest", str(tmp_path / "x")]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
