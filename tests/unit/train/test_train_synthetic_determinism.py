"""The synthetic dataset: Food-11 layout, deterministic per seed, different across seeds."""

from __future__ import annotations

import hashlib

import pytest

from gourmetgram import names
from train import layout, synthetic


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.jpg")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        synthetic.generate(tmp_path / name, seed=seed, images_per_class=2, image_size=32)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_layout_and_counts(small_dataset):
    for split, n in synthetic.split_sizes(3).items():
        for cls in names.CLASSES:
            folder = small_dataset / split / layout.class_folder(cls)
            assert len(list(folder.glob("*.jpg"))) == n
    assert (small_dataset / "training" / "Noodles-Pasta").is_dir()


def test_returned_counts_match_files(tmp_path):
    counts = synthetic.generate(tmp_path, images_per_class=4, image_size=24)
    assert counts == {s: n * len(names.CLASSES) for s, n in synthetic.split_sizes(4).items()}
    assert sum(counts.values()) == len(list(tmp_path.rglob("*.jpg")))


def test_classes_differ_in_colour():
    import numpy as np

    rng = np.random.default_rng(0)
    means = [np.mean([np.asarray(synthetic.render(c, rng, 32), float).mean((0, 1)) for _ in range(6)], 0)
             for c in range(3)]  # fmt: skip
    assert np.linalg.norm(means[0] - means[1]) > 5 and np.linalg.norm(means[1] - means[2]) > 5


@pytest.mark.parametrize("kwargs", [{"images_per_class": 0}, {"image_size": 8}])
def test_bad_sizes_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        synthetic.generate(tmp_path, **kwargs)


def test_cli_writes_and_summarises(tmp_path, capsys):
    assert synthetic.main([str(tmp_path), "--images-per-class", "1", "--image-size", "24"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert synthetic.main([str(tmp_path), "--images-per-class", "0"]) == 2
    assert "error:" in capsys.readouterr().err
