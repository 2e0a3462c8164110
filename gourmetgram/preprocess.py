"""Image loading and preprocessing shared by training evaluation and the app.

Plain Pillow + numpy (the app image has no torch). Matches the reference:
resize the short side to 256, center crop 224, ImageNet mean/std, CHW float32.
At a smaller input size S (CI's tiny model) the resize scales to round(S*256/224).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FULL_INPUT_SIZE = 224
FULL_RESIZE_SIZE = 256
# Refuse images that would decode to more pixels than this (decompression bombs).
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """The input is not an image we can classify; the message says why."""


class ImageTooLargeError(ImageError):
    """The image decodes to more pixels than MAX_PIXELS (a decompression bomb, or just huge)."""


def resize_size_for(input_size: int) -> int:
    """The short-side resize that goes with a center crop of input_size."""
    return round(input_size * FULL_RESIZE_SIZE / FULL_INPUT_SIZE)


def load_image(source: bytes | str | Path, draft_size: int | None = None) -> Image.Image:
    """Decode an image fully into RGB, or raise ImageError with a clear reason.

    draft_size: let a JPEG decode at a reduced scale (1/2, 1/4, 1/8, in the DCT)
    while both sides stay >= draft_size. A 12 MP phone photo then decodes about
    10x faster in a fraction of the memory; the pixels after resize differ only
    slightly. The app passes its resize size; None decodes at full size.
    """
    try:
        if isinstance(source, bytes | bytearray):
            if not source:
                raise ImageError("empty file")
            fh = io.BytesIO(source)
        else:
            fh = open(source, "rb")  # noqa: SIM115 - closed below
        with fh:
            img = Image.open(fh)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageTooLargeError(f"image too large: {w}x{h} pixels (limit {MAX_PIXELS})")
            if draft_size and img.format == "JPEG":
                img.draft(None, (draft_size, draft_size))
            img.load()
            # In place, and no convert() of an image that is RGB already: both would copy it.
            ImageOps.exif_transpose(img, in_place=True)
            return img if img.mode == "RGB" else img.convert("RGB")
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image too large: {exc}") from None
    except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError) as exc:
        raise ImageError(f"not a readable image: {exc}") from None


def preprocess(
    img: Image.Image,
    input_size: int = FULL_INPUT_SIZE,
    resize_size: int | None = None,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> np.ndarray:
    """RGB image -> float32 array (3, input_size, input_size), normalised."""
    resize_size = resize_size or resize_size_for(input_size)
    w, h = img.size
    # Resize-then-center-crop, done as one resize of the source box that the crop
    # covers: the same pixels, without materialising a huge intermediate image
    # for extreme aspect ratios (10000x10).
    scale = resize_size / min(w, h)
    box_w, box_h = min(w, input_size / scale), min(h, input_size / scale)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    img = img.resize((input_size, input_size), Image.BILINEAR, box=(left, top, left + box_w, top + box_h))
    # Normalise on uint8: each channel's 256 possible values are looked up in a table of
    # (v / 255 - mean) / std computed once in float32, written straight into the CHW array.
    # The same float32 operations as normalising every pixel, so the same values, about 4x faster.
    pixels = np.asarray(img)
    lut = _normalise_table(tuple(mean), tuple(std))
    out = np.empty((3, input_size, input_size), dtype=np.float32)
    for c in range(3):
        np.take(lut[c], pixels[:, :, c], out=out[c])
    return out


@lru_cache(maxsize=8)
def _normalise_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256) float32: channel c, value v -> (v / 255 - mean[c]) / std[c], in float32 as before."""
    values = np.arange(256, dtype=np.float32)[np.newaxis, :, np.newaxis] / np.float32(255.0)
    values = np.broadcast_to(values, (1, 256, 3))
    table = (values - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(table[0].T)
