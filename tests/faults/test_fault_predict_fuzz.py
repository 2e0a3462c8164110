"""Property-based fuzzing of POST /predict on a real gunicorn app: never a 5xx, never a dead worker.

Three kinds of input: random bytes as the upload, valid but odd images (1x1, 10000x10,
CMYK, 16-bit, animated GIF, EXIF-rotated, every Pillow mode the formats allow), and
malformed multipart bodies. Valid images must be classified (200); everything else
must get a 4xx, and the workers that answered must still be the same processes.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gourmetgram import names

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every CI run; change the seed locally to explore
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Pillow modes each format can write (a valid file of that format in that mode).
FORMAT_MODES = {
    "JPEG": ("L", "RGB", "CMYK"),
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"),
    "GIF": ("L", "P"),
    "TIFF": ("1", "L", "RGB", "RGBA", "CMYK", "I;16", "I", "F"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("1", "L", "P", "RGB"),
}
ODD_SIZES = ((1, 1), (10000, 10), (10, 10000), (1, 7), (3, 2))
WORKER_DEATH = re.compile(r"WORKER TIMEOUT|Worker \(pid:\d+\) was sent|Error handling request|Traceback")


def _image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    w, h = size
    rng = np.random.default_rng(seed)
    if mode in ("I;16",):
        return Image.fromarray(rng.integers(0, 65535, size=(h, w), dtype=np.uint16), "I;16")
    if mode == "I":
        return Image.fromarray(rng.integers(-(2**20), 2**20, size=(h, w), dtype=np.int32), "I")
    if mode == "F":
        return Image.fromarray(rng.standard_normal((h, w)).astype(np.float32), "F")
    rgb = Image.fromarray(rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8), "RGB")
    if mode == "P":
        return rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
    return rgb.convert(mode)


def encode(fmt: str, mode: str, size: tuple[int, int], seed: int = 0, exif_orientation: int = 0) -> bytes:
    img = _image(mode, size, seed)
    buf = io.BytesIO()
    kwargs = {}
    if exif_orientation and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # Orientation: the app must turn the picture upright, not fail
        kwargs["exif"] = exif.tobytes()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def animated_gif(frames: int, size: tuple[int, int], seed: int = 0) -> bytes:
    imgs = [_image("P", size, seed + i) for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=50, loop=0)
    return buf.getvalue()


@st.composite
def odd_images(draw) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(sorted(FORMAT_MODES)))
    mode = draw(st.sampled_from(FORMAT_MODES[fmt]))
    size = draw(st.one_of(st.sampled_from(ODD_SIZES), st.tuples(st.integers(1, 400), st.integers(1, 400))))
    orientation = draw(st.sampled_from((0, 0, 2, 3, 5, 6, 8)))
    seed = draw(st.integers(0, 1000))
    return f"{fmt} {mode} {size[0]}x{size[1]} exif={orientation}", encode(fmt, mode, size, seed, orientation)


def post_file(url: str, data: bytes, filename="upload.jpg", content_type="image/jpeg", accept_json=False):
    headers = {"Accept": "application/json"} if accept_json else {}
    return requests.post(f"{url}/predict", files={"file": (filename, data, content_type)}, headers=headers, timeout=60)


def assert_no_dead_worker(app, workers_before: set[int]) -> None:
    assert app.proc.poll() is None, "the gunicorn master died"
    assert app.workers() == workers_before, "a worker died and was replaced"
    found = WORKER_DEATH.search(app.log())
    assert not found, f"the app log shows a crash: {found.group(0)}"


MULTIPART_TYPES = (
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=",  # empty boundary
    'multipart/form-data; boundary="unterminated',
    "multipart/mixed; boundary=XyZ",
    "application/x-www-form-urlencoded",
    "text/plain",
    "image/jpeg",
    "",
)
PART_PIECES = (
    b"--XyZ\r\n",
    b"--XyZ--\r\n",
    b"--Other\r\n",
    b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n',
    b'Content-Disposition: form-data; name="file"\r\n',
    b'Content-Disposition: form-data; name="other"; filename="a.jpg"\r\n',
    b'Content-Disposition: form-data; name="file"; filename="\xff\xfe\x00.jpg"\r\n',
    b"Content-Disposition: attachment\r\n",
    b"Content-Type: image/jpeg\r\n",
    b"Content-Type: \x00\r\n",
    b"X-" + b"h" * 9000 + b": long\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"not a header line\r\n",
)


@st.composite
def multipart_bodies(draw) -> tuple[str, bytes]:
    pieces = draw(st.lists(st.one_of(st.sampled_from(PART_PIECES), st.binary(max_size=300)), max_size=12))
    if draw(st.booleans()):
        pieces.append(encode("JPEG", "RGB", (8, 8)))
    return draw(st.sampled_from(MULTIPART_TYPES)), b"".join(pieces)


@pytest.fixture(scope="module")
def workers_before(module_app) -> set[int]:
    return module_app.workers()


def assert_still_serves(app) -> None:
    r = post_file(app.url, encode("JPEG", "RGB", (64, 48)), "food.jpg")
    assert r.status_code == 200, r.text


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_get_a_4xx(module_app, workers_before, data):
    r = post_file(module_app.url, data)
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:200]}"


@FUZZ
@given(case=odd_images())
def test_odd_but_valid_images_are_classified(module_app, workers_before, case):
    label, data = case
    r = post_file(module_app.url, data, "odd.img", "application/octet-stream", accept_json=True)
    assert r.status_code == 200, f"{label}: {r.status_code} {r.text[:200]}"
    assert r.json()["class_name"] in names.CLASSES, label


@FUZZ
@given(case=odd_images(), cut=st.floats(0.0, 0.95), flips=st.lists(st.integers(0, 10**6), max_size=8))
def test_truncated_or_bit_flipped_images_never_get_a_5xx(module_app, workers_before, case, cut, flips):
    _, data = case
    broken = bytearray(data[: max(1, int(len(data) * cut))] if cut > 0.05 else data)
    for pos in flips:
        broken[pos % len(broken)] ^= 0xFF
    r = post_file(module_app.url, bytes(broken))
    assert r.status_code < 500, f"{r.status_code}: {r.text[:200]}"


@pytest.mark.parametrize(
    "fmt, mode, size",
    [
        ("JPEG", "RGB", (1, 1)),
        ("PNG", "RGB", (10000, 10)),
        ("PNG", "L", (10, 10000)),
        ("JPEG", "CMYK", (64, 48)),
        ("TIFF", "CMYK", (64, 48)),
        ("PNG", "I;16", (64, 48)),
        ("TIFF", "I;16", (64, 48)),
        ("TIFF", "F", (16, 16)),
        ("PNG", "RGBA", (33, 17)),
        ("PNG", "P", (5, 5)),
        ("BMP", "1", (9, 9)),
    ],
)
def test_the_named_odd_images_are_classified(module_app, workers_before, fmt, mode, size):
    r = post_file(module_app.url, encode(fmt, mode, size), "odd.img", "application/octet-stream", accept_json=True)
    assert r.status_code == 200, f"{fmt} {mode} {size}: {r.status_code} {r.text[:200]}"
    assert r.json()["class_name"] in names.CLASSES


@pytest.mark.parametrize("frames, size", [(2, (32, 32)), (5, (120, 80)), (3, (1, 1))])
def test_animated_gifs_are_classified(module_app, workers_before, frames, size):
    r = post_file(module_app.url, animated_gif(frames, size), "anim.gif", "image/gif", accept_json=True)
    assert r.status_code == 200, r.text
    assert r.json()["class_name"] in names.CLASSES


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_exif_rotated_jpegs_are_classified(module_app, workers_before, orientation):
    data = encode("JPEG", "RGB", (90, 30), exif_orientation=orientation)
    r = post_file(module_app.url, data, accept_json=True)
    assert r.status_code == 200, r.text
    assert r.json()["class_name"] in names.CLASSES


@FUZZ
@given(case=multipart_bodies())
def test_malformed_multipart_bodies_never_get_a_5xx(module_app, workers_before, case):
    content_type, body = case
    headers = {"Content-Type": content_type} if content_type else {}
    r = requests.post(f"{module_app.url}/predict", data=body, headers=headers, timeout=60)
    assert r.status_code < 500, f"{content_type!r} {body[:80]!r}: {r.status_code} {r.text[:200]}"


def test_after_all_the_fuzzing_no_worker_died_and_the_app_still_serves(module_app, workers_before):
    # Runs last in this module (pytest keeps file order): the same worker processes as at the start.
    assert_still_serves(module_app)
    assert_no_dead_worker(module_app, workers_before)
