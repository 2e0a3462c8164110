"""Fixtures of the cluster-path unit tests: example settings, isolated from the caller's environment."""

from __future__ import annotations

import os

import pytest

from gourmetgram.cluster.settings import ENV_NAMES, EXAMPLE_SETTINGS_FILE, SETTINGS_FILE_ENV, Settings, load_settings


@pytest.fixture
def example_env() -> dict[str, str]:
    """An environment with only GG_SETTINGS_FILE=settings.env.example (no GG_* of the caller)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES.values() and k != SETTINGS_FILE_ENV}
    env[SETTINGS_FILE_ENV] = str(EXAMPLE_SETTINGS_FILE)
    return env


@pytest.fixture
def settings(example_env) -> Settings:
    return load_settings(example_env)


@pytest.fixture
def example_process_env(monkeypatch, example_env):
    """The same isolation for code that reads os.environ (the invoke tasks)."""
    for name in [*ENV_NAMES.values(), SETTINGS_FILE_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(EXAMPLE_SETTINGS_FILE))
    return example_env
