"""The dataset reader: both folder namings, and a clear error (never a traceback) for each layout problem."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from PIL import Image

from gourmetgram import names, preprocess
from train import data, layout


@pytest.fixture
def dataset(small_dataset, tmp_path):
    """A private copy of the small synthetic dataset that a test may break."""
    root = tmp_path / "food11"
    shutil.copytree(small_dataset, root)
    return root


def test_reads_every_split_with_class_name_folders(dataset):
    splits = data.scan_dataset(dataset)
    assert set(splits) == set(layout.SPLITS)
    assert splits["training"].class_counts() == [3] * len(names.CLASSES)
    assert not splits["training"].skipped


def test_class_index_folders_map_in_reference_order(dataset):
    split = dataset / "validation"
    for i, cls in enumerate(names.CLASSES):
        (split / layout.class_folder(cls)).rename(split / f"class_{i:02d}")
    samples = data.scan_split(dataset, "validation").samples
    assert sorted({label for _, label in samples}) == list(range(len(names.CLASSES)))
    assert all(p.parent.name == f"class_{label:02d}" for p, label in samples)


def test_class_name_matching_ignores_case_and_punctuation():
    assert layout.class_index("noodles_pasta") == names.CLASSES.index("Noodles/Pasta")
    assert layout.class_index("Dairy product") == layout.class_index("dairy-product") == 1
    assert layout.class_index("class_11") is None and layout.class_index("pizza") is None


def test_missing_root(tmp_path):
    with pytest.raises(data.DataError, match="dataset directory not found"):
        data.scan_dataset(tmp_path / "nope")


def test_missing_split(dataset):
    shutil.rmtree(dataset / "evaluation")
    with pytest.raises(data.DataError, match="missing split 'evaluation'"):
        data.scan_dataset(dataset)


def test_unknown_class_folder(dataset):
    (dataset / "training" / "Pizza").mkdir()
    with pytest.raises(data.DataError, match="Pizza: not a class folder"):
        data.scan_split(dataset, "training")


def test_two_folders_for_one_class(dataset):
    (dataset / "training" / "class_00").mkdir()
    with pytest.raises(data.DataError, match="'Bread' has two folders"):
        data.scan_split(dataset, "training")


def test_missing_class_folder(dataset):
    shutil.rmtree(dataset / "training" / "Soup")
    with pytest.raises(data.DataError, match="no folder for class.*Soup"):
        data.scan_split(dataset, "training")


def test_empty_class(dataset):
    for f in (dataset / "training" / "Rice").iterdir():
        f.unlink()
    with pytest.raises(data.DataError, match="'Rice' has no readable images"):
        data.scan_split(dataset, "training")


def test_unreadable_image_is_skipped_and_counted_or_fails(dataset):
    bad = dataset / "training" / "Egg" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    split = data.scan_split(dataset, "training", on_bad_image="skip")
    assert [p for p, _ in split.skipped] == [bad]
    assert split.class_counts()[names.CLASSES.index("Egg")] == 3
    with pytest.raises(data.DataError, match="broken.jpg.*--on-bad-image skip"):
        data.scan_split(dataset, "training", on_bad_image="fail")


def test_truncated_image_is_unreadable(dataset):
    good = next((dataset / "training" / "Meat").glob("*.jpg"))
    (good.parent / "cut.jpg").write_bytes(good.read_bytes()[:200])
    split = data.scan_split(dataset, "training")
    assert [p.name for p, _ in split.skipped] == ["cut.jpg"]


def test_non_image_files_are_ignored(dataset):
    (dataset / "training" / "Bread" / "notes.txt").write_text("hello")
    assert data.scan_split(dataset, "training").class_counts()[0] == 3


def test_unknown_on_bad_image_policy(dataset):
    with pytest.raises(data.DataError, match="on_bad_image"):
        data.scan_split(dataset, "training", on_bad_image="ignore")


def test_eval_transform_is_the_serving_preprocessing():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    np.testing.assert_array_equal(data.EvalTransform(48)(img), preprocess.preprocess(img, 48))


def test_train_transform_shape_and_seeded_randomness():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    t = data.TrainTransform(48)
    a, b, c = t(img, random.Random(1)), t(img, random.Random(1)), t(img, random.Random(2))
    assert a.shape == (3, 48, 48) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dataset_cache_gives_the_same_tensors(dataset):
    split = data.scan_split(dataset, "validation")
    plain = data.ImageDataset(split, data.EvalTransform(32), cache=False)
    cached = data.ImageDataset(split, data.EvalTransform(32), cache=True)
    for i in (0, len(split.samples) - 1):
        assert plain[i][1] == cached[i][1]
        np.testing.assert_array_equal(plain[i][0].numpy(), cached[i][0].numpy())
