"""A bounded load generator for lab mode: POST /predict with varied images to a loopback URL.

With no users, the canary analysis has nothing to measure; this stands in for them. It
refuses any address outside 127.0.0.0/8 and stops by itself after max_requests or
max_seconds. Images: the synthetic Food-11 evaluation split if the platform has one
(a realistic class mix), else noise images plus the app's test photo.
"""

from __future__ import annotations

import collections
import io
import ipaddress
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from gourmetgram.errors import UsageError
from gourmetgram.paths import REPO_ROOT


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise UsageError(f"the load generator only sends to 127.0.0.0/8, not {url}")


def images(data_root: Path | None = None, limit: int = 66) -> list[bytes]:
    """Up to `limit` JPEGs, spread over the classes."""
    found: list[bytes] = []
    split = data_root / "evaluation" if data_root else None
    if split and split.is_dir():
        per_class = [sorted(d.glob("*.jpg")) for d in sorted(split.iterdir()) if d.is_dir()]
        i = 0
        while len(found) < limit and any(i < len(files) for files in per_class):
            found += [files[i].read_bytes() for files in per_class if i < len(files)]
            i += 1
    if not found:
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        for _ in range(24):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, size=(72, 96, 3), dtype=np.uint8), "RGB").save(buf, "JPEG")
            found.append(buf.getvalue())
        found.append((REPO_ROOT / "app" / "static" / "test.jpg").read_bytes())
    return found[:limit]


class LoadGenerator:
    """`clients` closed-loop threads; counts answers by status code."""

    def __init__(
        self,
        url: str,
        jpegs: list[bytes],
        clients: int = 4,
        max_requests: int = 20_000,
        max_seconds: float = 600.0,
        pause: float = 0.0,
    ):
        check_loopback(url)
        if not jpegs:
            raise UsageError("the load generator needs at least one image")
        self.url = url.rstrip("/") + "/predict"
        self.jpegs = jpegs
        self.clients = clients
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.codes: collections.Counter[str] = collections.Counter()
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.started = 0.0
        self.stopped = 0.0

    def _next(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or self.sent >= self.max_requests:
                return None
            if time.monotonic() - self.started > self.max_seconds:
                return None
            self.sent += 1
            return self.sent

    def _client(self) -> None:
        session = requests.Session()
        while (i := self._next()) is not None:
            jpeg = self.jpegs[i % len(self.jpegs)]
            try:
                r = session.post(self.url, files={"file": (f"food-{i}.jpg", jpeg, "image/jpeg")}, timeout=30)
                code = str(r.status_code)
            except requests.RequestException as exc:
                code = type(exc).__name__
                session = requests.Session()
            with self._lock:
                self.codes[code] += 1
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> LoadGenerator:
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        self.stopped = time.monotonic()
        return self.summary()

    def summary(self) -> dict:
        with self._lock:
            total = sum(self.codes.values())
            non2xx = sum(n for c, n in self.codes.items() if not c.startswith("2"))
            elapsed = (self.stopped or time.monotonic()) - self.started
            return {
                "requests": total,
                "non_2xx": non2xx,
                "codes": dict(self.codes),
                "seconds": round(elapsed, 2),
                "per_second": round(total / elapsed, 1) if elapsed > 0 else 0.0,
            }
