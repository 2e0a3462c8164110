"""Read a Food-11-layout dataset and turn images into tensors.

Checks the layout before any training starts and says clearly what is wrong:
a missing split, an unknown or duplicated class folder, an empty class. An
unreadable image is either skipped and counted (on_bad_image="skip") or stops
the run (on_bad_image="fail"). Evaluation uses gourmetgram.preprocess, the one
preprocessing the app uses too; training adds the reference's augmentation
(random crop, flip, rotation 15, colour jitter) in Pillow + numpy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

from gourmetgram import names, preprocess
from train import layout

ON_BAD_IMAGE = ("skip", "fail")


class DataError(ValueError):
    """The dataset is not usable; the message says what to fix."""


@dataclass
class Split:
    """The images of one split: (path, class index) pairs, and what was skipped."""

    name: str
    samples: list[tuple[Path, int]]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def class_counts(self) -> list[int]:
        counts = [0] * len(names.CLASSES)
        for _, label in self.samples:
            counts[label] += 1
        return counts


def _class_folders(split_dir: Path, partial: bool = False) -> dict[int, Path]:
    folders: dict[int, Path] = {}
    for entry in sorted(split_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        idx = layout.class_index(entry.name)
        if idx is None:
            raise DataError(
                f"{entry}: not a class folder; expected a class name ({', '.join(names.CLASSES)}, "
                f"'/' written as '-') or class_00..class_{len(names.CLASSES) - 1:02d}"
            )
        if idx in folders:
            raise DataError(
                f"{split_dir}: class {names.CLASSES[idx]!r} has two folders: {folders[idx].name}, {entry.name}"
            )
        folders[idx] = entry
    missing = [names.CLASSES[i] for i in range(len(names.CLASSES)) if i not in folders]
    if missing and not partial:
        raise DataError(f"{split_dir}: no folder for class(es) {', '.join(missing)}")
    return folders


def scan_split(
    root: str | Path, split: str, on_bad_image: str = "skip", check_images: bool = True, partial: bool = False
) -> Split:
    """List (and, with check_images, decode once) every image of root/split.

    partial: any subset of the classes, empty class folders allowed (extra data such as
    `invoke feedback.export` writes: only the classes users labelled).
    """
    if on_bad_image not in ON_BAD_IMAGE:
        raise DataError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}, got {on_bad_image!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset directory not found: {root}")
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"{root}: missing split {split!r} (expected {', '.join(layout.SPLITS)} folders)")
    result = Split(split, [])
    for idx, folder in sorted(_class_folders(split_dir, partial).items()):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in layout.IMAGE_SUFFIXES)
        good = 0
        for path in files:
            if check_images:
                try:
                    preprocess.load_image(path)
                except preprocess.ImageError as exc:
                    if on_bad_image == "fail":
                        raise DataError(f"{path}: {exc} (use --on-bad-image skip to skip such files)") from None
                    result.skipped.append((path, str(exc)))
                    continue
            result.samples.append((path, idx))
            good += 1
        if good == 0 and not partial:
            raise DataError(f"{folder}: class {names.CLASSES[idx]!r} has no readable images in split {split!r}")
    return result


def scan_dataset(root: str | Path, on_bad_image: str = "skip", check_images: bool = True) -> dict[str, Split]:
    return {s: scan_split(root, s, on_bad_image, check_images) for s in layout.SPLITS}


def _to_tensor(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(preprocess.IMAGENET_MEAN, np.float32)) / np.asarray(preprocess.IMAGENET_STD, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def resize_short_side(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    scale = size / min(w, h)
    return img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)


@dataclass(frozen=True)
class TrainTransform:
    """Reference augmentation: resize, random crop, flip, rotation, colour jitter, normalise."""

    input_size: int
    deterministic = False
    rotation: float = 15.0
    jitter: float = 0.2  # brightness, contrast and saturation, each in [1-j, 1+j]

    def __call__(self, img: Image.Image, rng: random.Random | None = None) -> np.ndarray:
        rng = rng or random  # the module's generator: the DataLoader seeds it in each worker
        img = resize_short_side(img, preprocess.resize_size_for(self.input_size))
        w, h = img.size
        left, top = rng.randint(0, w - self.input_size), rng.randint(0, h - self.input_size)
        img = img.crop((left, top, left + self.input_size, top + self.input_size))
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.rotation:
            img = img.rotate(rng.uniform(-self.rotation, self.rotation), resample=Image.BILINEAR)
        for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            img = enhancer(img).enhance(rng.uniform(1 - self.jitter, 1 + self.jitter))
        return _to_tensor(img)


@dataclass(frozen=True)
class EvalTransform:
    """The serving preprocessing (gourmetgram.preprocess), nothing else."""

    input_size: int
    deterministic = True

    def __call__(self, img: Image.Image, rng: random.Random | None = None) -> np.ndarray:
        return preprocess.preprocess(img, self.input_size)


class ImageDataset(torch.utils.data.Dataset):
    """(image tensor [3,S,S], class index) for each sample of a Split.

    cache=True keeps the data in memory (small datasets: CI and the demo then
    decode each JPEG once instead of once per epoch): the finished tensors for
    a deterministic transform, else the images already resized.
    """

    def __init__(self, split: Split, transform, cache: bool = False) -> None:
        self.samples = split.samples
        self.transform = transform
        self._images: list[Image.Image] | None = None
        self._arrays: list[np.ndarray] | None = None
        if cache and transform.deterministic:
            self._arrays = [transform(preprocess.load_image(p)) for p, _ in self.samples]
        elif cache:
            size = preprocess.resize_size_for(transform.input_size)
            self._images = [resize_short_side(preprocess.load_image(p), size) for p, _ in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        if self._arrays is not None:
            return torch.from_numpy(self._arrays[i]), label
        img = self._images[i] if self._images is not None else preprocess.load_image(path)
        return torch.from_numpy(self.transform(img)), label
