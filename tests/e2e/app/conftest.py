"""Fixtures for the app's end-to-end tests: tiny real models and real gunicorn processes.

Each server is `gunicorn -c app/gunicorn.conf.py 'app.app:create_app()'` on a
free loopback port, exactly as the bundles and the image run it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gourmetgram import names
from tests.support.app_server import AppServer, jpeg_bytes, make_tiny_model, start_app
from tests.support.teardown import stop_all_after

# Small enough that uploads over it are cheap to send, big enough for any test image.
UPLOAD_LIMIT = 1024 * 1024
TEST_VERSION = names.version_string(7)
# What every app in these tests runs with (a test's own env overrides it).
E2E_ENV = {"GG_THREADS": "2", "GG_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "GG_ENVIRONMENT": ""}


@pytest.fixture(scope="session")
def app_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app-e2e")


@pytest.fixture(scope="session")
def tiny_model_dir(app_tmp) -> Path:
    return make_tiny_model(app_tmp / "good" / "model")


@pytest.fixture(scope="session")
def version_file(app_tmp) -> Path:
    path = app_tmp / "versions.txt"
    path.write_text(TEST_VERSION + "\n")
    return path


@pytest.fixture(scope="session")
def app_server(app_tmp, tiny_model_dir, version_file) -> Iterator[AppServer]:
    server = start_app(app_tmp, tiny_model_dir, version_file, **{**E2E_ENV, "GG_ENVIRONMENT": "canary"})
    yield server
    server.stop()


@pytest.fixture
def good_jpeg() -> bytes:
    return jpeg_bytes()


@pytest.fixture(scope="session")
def test_version() -> str:
    return TEST_VERSION


@pytest.fixture(scope="session")
def upload_limit() -> int:
    return UPLOAD_LIMIT


@pytest.fixture
def app_factory(app_tmp):
    """start(model_dir, version_file, wait_ready=True, **env) -> AppServer; all stopped at teardown."""

    def start(model_dir: Path, version_file: Path, wait_ready: bool = True, **env: str) -> AppServer:
        return start_app(app_tmp, model_dir, version_file, wait_ready=wait_ready, **{**E2E_ENV, **env})

    yield from stop_all_after(start)


@pytest.fixture(scope="session")
def bad_model_dir(app_tmp) -> Path:
    """The lab's bad model: model.pth (a state dict) + model.json, no model.onnx."""
    return make_tiny_model(app_tmp / "bad" / "model", fmt="state-dict")
