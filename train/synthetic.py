"""A small synthetic Food-11 stand-in that a tiny network can really learn.

No real data can be downloaded here, so the demo and CI train on this. Each
class is one object pattern (shape + hue family) drawn at a random position,
scale and rotation on a noisy, textured background, sometimes next to a
smaller distractor of another class's colour, then saved as JPEG. A small net
separates the classes well above chance after a few epochs, but an untrained
one does not. The same seed always writes the same files.

    python -m train.synthetic DIR [--seed 0] [--images-per-class 30] [--image-size 64]
"""

from __future__ import annotations

import argparse
import colorsys
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gourmetgram import names
from train import layout

SHAPES = (
    "disc",
    "square",
    "triangle",
    "diamond",
    "ring",
    "cross",
    "h_stripes",
    "v_stripes",
    "dots",
    "checker",
    "star",
)
assert len(SHAPES) == len(names.CLASSES)
JPEG_QUALITY = 90
# Split sizes relative to the training split (Food-11 has roughly 3:1:1).
HELDOUT_FRACTION = 1 / 3
MIN_HELDOUT = 8


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1))
    return int(r * 255), int(g * 255), int(b * 255)


def _class_colour(cls: int, rng: np.random.Generator) -> tuple[int, int, int]:
    hue = cls / len(SHAPES) + rng.normal(0, 0.015)
    return _hsv(hue, rng.uniform(0.55, 1.0), rng.uniform(0.6, 1.0))


def _rotated(points: list[tuple[float, float]], cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, angle: float, colour) -> None:
    if shape == "disc":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "ring":
        w = max(2, int(r * 0.35))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=w)
    elif shape in ("square", "diamond"):
        pts = [(-r * 0.85, -r * 0.85), (r * 0.85, -r * 0.85), (r * 0.85, r * 0.85), (-r * 0.85, r * 0.85)]
        if shape == "diamond":
            pts = [(0, -r * 1.2), (r * 0.8, 0), (0, r * 1.2), (-r * 0.8, 0)]
        draw.polygon(_rotated(pts, cx, cy, angle if shape == "square" else angle * 0.2), fill=colour)
    elif shape == "triangle":
        pts = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        draw.polygon(_rotated(pts, cx, cy, angle), fill=colour)
    elif shape == "star":
        pts = []
        for i in range(10):
            rr = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + i * math.pi / 5
            pts.append((rr * math.cos(a), rr * math.sin(a)))
        draw.polygon(_rotated(pts, cx, cy, angle), fill=colour)
    elif shape == "cross":
        t = r * 0.35
        for pts in ([(-r, -t), (r, -t), (r, t), (-r, t)], [(-t, -r), (t, -r), (t, r), (-t, r)]):
            draw.polygon(_rotated(pts, cx, cy, angle * 0.3), fill=colour)
    elif shape in ("h_stripes", "v_stripes"):
        n = 3
        band = 2 * r / (2 * n - 1)
        for i in range(n):
            o = -r + 2 * i * band
            if shape == "h_stripes":
                box = (cx - r, cy + o, cx + r, cy + o + band)
            else:
                box = (cx + o, cy - r, cx + o + band, cy + r)
            draw.rectangle(box, fill=colour)
    elif shape == "dots":
        d = r * 0.28
        for gx in (-0.6, 0.0, 0.6):
            for gy in (-0.6, 0.0, 0.6):
                x, y = cx + gx * r, cy + gy * r
                draw.ellipse((x - d, y - d, x + d, y + d), fill=colour)
    elif shape == "checker":
        n = 4
        cell = 2 * r / n
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 == 0:
                    x, y = cx - r + i * cell, cy - r + j * cell
                    draw.rectangle((x, y, x + cell, y + cell), fill=colour)
    else:  # pragma: no cover - SHAPES is fixed
        raise ValueError(shape)


def render(cls: int, rng: np.random.Generator, image_size: int = 64) -> Image.Image:
    """One image of class index cls, drawn from rng."""
    s = image_size
    # Background: a dull random colour with a gradient and a blotchy texture.
    base = np.array(_hsv(rng.uniform(), rng.uniform(0.0, 0.25), rng.uniform(0.25, 0.85)), dtype=np.float32)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    gdir = rng.uniform(-1, 1, size=2)
    grad = (xx * gdir[0] + yy * gdir[1])[..., None] * rng.uniform(10, 50)
    blotch = np.kron(rng.normal(0, 18, size=(8, 8, 3)), np.ones((s // 8 + 1, s // 8 + 1, 1)))[:s, :s]
    bg = np.clip(base + grad + blotch, 0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    draw = ImageDraw.Draw(img)

    # Sometimes a smaller distractor of another class, so colour alone is not the whole story.
    if rng.uniform() < 0.3:
        other = int((cls + rng.integers(1, len(SHAPES))) % len(SHAPES))
        r = rng.uniform(0.07, 0.11) * s
        _draw_shape(
            draw,
            SHAPES[other],
            rng.uniform(r, s - r),
            rng.uniform(r, s - r),
            r,
            rng.uniform(0, 2 * math.pi),
            _class_colour(other, rng),
        )
    r = rng.uniform(0.26, 0.38) * s
    cx, cy = rng.uniform(r * 0.9, s - r * 0.9), rng.uniform(r * 0.9, s - r * 0.9)
    _draw_shape(draw, SHAPES[cls], cx, cy, r, rng.uniform(0, 2 * math.pi), _class_colour(cls, rng))

    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 8, size=(s, s, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def split_sizes(images_per_class: int) -> dict[str, int]:
    heldout = max(MIN_HELDOUT, round(images_per_class * HELDOUT_FRACTION))
    return {layout.TRAINING: images_per_class, layout.VALIDATION: heldout, layout.EVALUATION: heldout}


# Written at the dataset's root: a model trained on it says so (model.json data_source), however it was passed.
MARKER = "SYNTHETIC"


def is_synthetic(root: str | Path) -> bool:
    return (Path(root) / MARKER).is_file()


def generate(root: str | Path, seed: int = 0, images_per_class: int = 30, image_size: int = 64) -> dict[str, int]:
    """Write <root>/{training,validation,evaluation}/<class>/NNNN.jpg; returns images per split."""
    if images_per_class < 1:
        raise ValueError(f"images_per_class must be >= 1, got {images_per_class}")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    root = Path(root)
    counts = {}
    for split_no, (split, n) in enumerate(split_sizes(images_per_class).items()):
        for cls, class_name in enumerate(names.CLASSES):
            folder = root / split / layout.class_folder(class_name)
            folder.mkdir(parents=True, exist_ok=True)
            # One independent stream per (seed, split, class): adding a class or split never shifts the others.
            rng = np.random.default_rng([seed, split_no, cls])
            for i in range(n):
                render(cls, rng, image_size).save(folder / f"{i:04d}.jpg", quality=JPEG_QUALITY)
        counts[split] = n * len(names.CLASSES)
    (root / MARKER).write_text(f"synthetic GourmetGram dataset (train/synthetic.py, seed {seed}): not Food-11\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic Food-11-layout dataset.")
    parser.add_argument("root", type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images-per-class", type=int, default=30, help="training images per class")
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        counts = generate(args.root, args.seed, args.images_per_class, args.image_size)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {sum(counts.values())} images to {args.root}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
