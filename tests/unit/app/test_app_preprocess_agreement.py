"""The faster preprocessing gives the model the same input, so the same answers.

The reference below is the preprocessing as it was before the serving work of issue 16
(exif_transpose and convert copies, float normalisation of every pixel), frozen here.
On the evaluation split of the synthetic dataset (what the model tests evaluate on) and
on photo-sized JPEGs, the new path must give bit-identical input arrays, and the app's
answer through POST /predict must be the same class as the reference path's, every time.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from app import inference
from app.app import create_app
from gourmetgram import preprocess
from train import layout, synthetic


def reference_load(data: bytes, draft_size: int | None) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    if draft_size and img.format == "JPEG":
        img.draft(None, (draft_size, draft_size))
    img.load()
    img = ImageOps.exif_transpose(img) or img
    return img.convert("RGB")


def reference_preprocess(img: Image.Image, input_size: int, resize_size: int, mean, std) -> np.ndarray:
    w, h = img.size
    scale = resize_size / min(w, h)
    box_w, box_h = min(w, input_size / scale), min(h, input_size / scale)
    left, top = (w - box_w) / 2, (h - box_h) / 2
    img = img.resize((input_size, input_size), Image.BILINEAR, box=(left, top, left + box_w, top + box_h))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


@pytest.fixture(scope="module")
def evaluation_images(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("synthetic")
    synthetic.generate(root, seed=3, images_per_class=8, image_size=64)
    paths = sorted((root / layout.EVALUATION).rglob("*.jpg"))
    assert len(paths) >= 2 * 11
    return paths


@pytest.fixture(scope="module")
def photos() -> list[bytes]:
    """Photo-like JPEGs in the sizes users send, one EXIF-rotated, one grayscale."""
    out = []
    rng = np.random.default_rng(7)
    for i, (w, h) in enumerate([(512, 384), (1600, 1200), (300, 700), (4032, 3024)]):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack(
            [128 + 90 * np.sin(xx / (17 + i * 9)), 128 + 80 * np.cos(yy / 23), 128 + 60 * np.sin((xx + yy) / 31)], -1
        )
        arr = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        buf = io.BytesIO()
        if i == 1:
            exif = Image.Exif()
            exif[0x0112] = 6  # rotated 90 degrees
            img.save(buf, "JPEG", quality=85, exif=exif)
        elif i == 2:
            img.convert("L").save(buf, "JPEG", quality=85)
        else:
            img.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


@pytest.mark.parametrize(("input_size", "resize_size"), [(224, 256), (32, 37)])
def test_same_input_arrays_as_the_reference(evaluation_images, photos, input_size, resize_size):
    mean, std = preprocess.IMAGENET_MEAN, preprocess.IMAGENET_STD
    datas = [p.read_bytes() for p in evaluation_images] + photos
    for data in datas:
        new = preprocess.preprocess(preprocess.load_image(data, resize_size), input_size, resize_size, mean, std)
        ref = reference_preprocess(reference_load(data, resize_size), input_size, resize_size, mean, std)
        assert new.dtype == ref.dtype == np.float32 and new.shape == ref.shape == (3, input_size, input_size)
        assert np.array_equal(new, ref)


def test_top1_agreement_through_the_app_on_the_evaluation_images(
    tiny_model_dir, version_file, evaluation_images, photos
):
    """POST /predict (the new path) against the reference preprocessing on the same model: the same
    class every time (100 % top-1 agreement) and the same probabilities, to the last bit."""
    clf = inference.Classifier(tiny_model_dir, threads=1)
    client = create_app(tiny_model_dir, version_file).test_client()
    datas = [p.read_bytes() for p in evaluation_images] + photos
    agree = 0
    for data in datas:
        x = reference_preprocess(
            reference_load(data, clf.resize_size), clf.input_size, clf.resize_size, clf.mean, clf.std
        )
        (logits,) = clf.session.run([clf.output_name], {clf.input_name: x[np.newaxis]})
        probs = inference.softmax(logits[0].astype(np.float64))
        resp = client.post(
            "/predict",
            data={"file": (io.BytesIO(data), "food.jpg", "image/jpeg")},
            headers={"Accept": "application/json"},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["probabilities"] == {c: float(p) for c, p in zip(clf.classes, probs, strict=True)}
        agree += body["class_name"] == clf.classes[int(np.argmax(probs))]
    assert agree == len(datas), f"top-1 agreement {agree}/{len(datas)}"
