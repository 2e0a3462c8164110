"""The upload fast path: one-file multipart parse (app/multipart.py), gunicorn body read (app/body.py),
and the profiling switch (app/profiling.py). Each must give what werkzeug / gunicorn give."""

from __future__ import annotations

import io
import socket
import threading

import numpy as np
import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder, encode_multipart

from app import multipart, profiling
from app.body import FastBody


def encoded(fields: dict, boundary: str = "gg-test-boundary") -> tuple[bytes, str]:
    """A multipart body as werkzeug's test client encodes it, with a fixed boundary (werkzeug's own
    is random and now and then longer than RFC 2046's 70 characters, which the fast path leaves to werkzeug)."""
    builder = EnvironBuilder(method="POST", data=fields)
    used, body = encode_multipart(builder.files | builder.form, boundary=boundary)
    return body, used


def werkzeug_files(body: bytes, boundary: str) -> dict:
    env = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(env)
    return {k: (f.filename, f.content_type, f.read()) for k, f in files.items()}, dict(form)


@pytest.mark.parametrize("seed", range(6))
def test_one_file_part_matches_werkzeug(seed):
    rng = np.random.default_rng(seed)
    # Random bytes full of CR, LF and dashes: what a JPEG holds, and what trips boundary searches.
    content = bytes(rng.choice(np.frombuffer(b"\r\n-ab\x00\xff", np.uint8), size=int(rng.integers(0, 5000))))
    body, boundary = encoded({"file": (io.BytesIO(content), f"photo {seed}.jpg", "image/jpeg")})
    part = multipart.single_file_part(body, boundary)
    files, form = werkzeug_files(body, boundary)
    assert part is not None and form == {}
    assert (part.filename, part.content_type, part.content) == files[part.name]
    assert part.name == "file"


@pytest.mark.parametrize(
    "fields",
    [
        {"file": "text, not a file"},  # a text field: werkzeug answers (and applies its limits)
        {"file": (io.BytesIO(b"a"), "a.jpg"), "other": (io.BytesIO(b"b"), "b.jpg")},  # two parts
        {"file": (io.BytesIO(b"a"), "a.jpg"), "note": "hi"},
    ],
)
def test_anything_but_one_file_part_goes_to_werkzeug(fields):
    body, boundary = encoded(fields)
    assert multipart.single_file_part(body, boundary) is None


def test_odd_bodies_go_to_werkzeug():
    body, boundary = encoded({"file": (io.BytesIO(b"xyz"), "a.jpg")})
    assert multipart.single_file_part(b"preamble\r\n" + body.lstrip(b"\r\n"), boundary) is None
    assert multipart.single_file_part(body + b"epilogue", boundary) is None
    assert multipart.single_file_part(body[:-10], boundary) is None  # truncated
    assert multipart.single_file_part(body, "other") is None
    assert multipart.single_file_part(body, "") is None
    # The delimiter inside the content means werkzeug would see a second part.
    inner = b"--" + boundary.encode()
    body2, _ = encoded({"file": (io.BytesIO(b"aa\r\n" + inner + b"\r\nbb"), "a.jpg")}, boundary)
    assert multipart.single_file_part(body2, boundary) is None


def gunicorn_body(
    payload: bytes, trailing: bytes = b""
) -> tuple[Body, SocketUnreader, socket.socket, threading.Thread]:
    """A gunicorn Body over a real socket, as a sync worker builds it, with `trailing` bytes after it."""
    a, b = socket.socketpair()
    sender = threading.Thread(target=lambda: (a.sendall(payload + trailing), a.close()))
    sender.start()
    unreader = SocketUnreader(b)
    return Body(LengthReader(unreader, len(payload))), unreader, b, sender


@pytest.mark.parametrize("size", [0, 1, 8191, 8193, 3_000_001])
def test_fast_body_reads_exactly_the_body_and_leaves_the_next_request(size):
    payload = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    nxt = b"GET /next HTTP/1.1\r\n\r\n"
    body, unreader, sock, sender = gunicorn_body(payload, nxt)
    fast = FastBody(body)
    assert fast.read(size) == payload
    assert fast.read(10) == b""  # nothing past the Content-Length
    assert unreader.mxchunk == 8192  # gunicorn's own read size again for the next request's headers
    sender.join()
    assert unreader.read() + sock.recv(100) == nxt
    sock.close()


def test_fast_body_in_pieces_and_after_gunicorn_buffered():
    payload = bytes(range(256)) * 100
    body, _, sock, sender = gunicorn_body(payload)
    fast = FastBody(body)
    first = fast.readline()  # gunicorn's own method: it may buffer in Body, then read() defers to it
    rest = fast.read(100) + fast.read(-1)
    assert first + rest == payload
    sender.join()
    sock.close()


def test_profiling_off_by_default_and_laps_when_on(monkeypatch, tmp_path, tiny_model_dir, version_file, make_jpeg):
    from app.app import create_app

    assert profiling.ENABLED is (profiling.PROFILE_ENV in __import__("os").environ)
    monkeypatch.setattr(profiling, "ENABLED", True)
    monkeypatch.setattr(profiling, "_dir", str(tmp_path / "prof"))
    monkeypatch.setattr(profiling, "_totals", {})
    monkeypatch.setattr(profiling, "_requests", 0)
    client = create_app(tiny_model_dir, version_file).test_client()
    for _ in range(3):
        resp = client.post("/predict", data={"file": (io.BytesIO(make_jpeg()), "a.jpg")})
        assert resp.status_code == 200 and resp.get_data()  # consumed: the WSGI response is closed
    assert client.get("/healthz").get_data() == b"ok\n"  # other routes are not counted
    profiling.dump()
    got = profiling.read(tmp_path / "prof")
    assert got["requests"] == 3
    for stage in ("flask_in", "multipart", "decode", "preprocess", "inference", "metrics", "response", "wsgi_out"):
        assert got["cpu_ns"][stage] > 0, stage
    assert profiling.diff(got, {"requests": 1, "cpu_ns": {"decode": 1}})["requests"] == 2
