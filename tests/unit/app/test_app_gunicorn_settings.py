"""app/gunicorn.conf.py: worker settings from the environment, with clear errors."""

from __future__ import annotations

import runpy

import pytest

from gourmetgram.paths import REPO_ROOT

CONF = REPO_ROOT / "app" / "gunicorn.conf.py"


@pytest.fixture
def load(monkeypatch, tmp_path):
    def _load(**env: str) -> dict:
        for name in ("GG_WORKERS", "GG_THREADS", "GG_ORT_THREADS", "GG_TIMEOUT", "GG_BIND", "GG_MAX_REQUESTS"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return _load


def test_defaults_are_derived_from_this_machine(load):
    from app import capacity

    conf = load()
    derived = capacity.defaults_for(capacity.detect().cpus)
    assert (conf["workers"], conf["threads"], conf["ort_threads"]) == (
        derived.workers,
        derived.threads,
        derived.ort_threads,
    )
    assert conf["worker_class"] == "sync"  # one request at a time per worker (app/capacity.py)
    assert conf["preload_app"] is False  # onnxruntime sessions are opened after the fork
    assert conf["timeout"] > 0 and conf["graceful_timeout"] > 0
    assert "bind" not in conf  # gunicorn's loopback default unless --bind / GG_BIND


def test_environment_overrides(load):
    conf = load(GG_WORKERS="3", GG_THREADS="1", GG_BIND="127.0.0.1:9999", GG_MAX_REQUESTS="0")
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (3, 1, "sync")
    assert conf["bind"] == "127.0.0.1:9999"
    assert (conf["max_requests"], conf["max_requests_jitter"]) == (0, 0)


@pytest.mark.parametrize(("name", "raw"), [("GG_WORKERS", "0"), ("GG_THREADS", "many"), ("GG_TIMEOUT", "-1")])
def test_bad_values_stop_with_a_clear_message(load, name, raw):
    with pytest.raises(SystemExit, match=f"{name} must be an integer"):
        load(**{name: raw})
