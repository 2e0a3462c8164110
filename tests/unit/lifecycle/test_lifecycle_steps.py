"""The step sequence over in-memory doubles of the registry and the target.

The app side is a real HTTP server per environment (the staging test calls it);
the doubles only record what the steps asked for, so each rule is visible:
which aliases move, when, and what every environment serves after a failure.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gourmetgram import names
from gourmetgram.lifecycle import order, rules
from gourmetgram.lifecycle.registry import RegistryError
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.lifecycle.steps import Lifecycle, StepFailed
from gourmetgram.lifecycle.target import DeployError


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's API
        app = self.server
        if self.path == "/version":
            body = json.dumps({"model_version": names.version_string(app.version)}).encode()
        else:
            body = app.answer.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FakeTarget:
    """Environments served by tiny real HTTP servers; deploy changes what they answer."""

    name = "memory"

    def __init__(self):
        self.servers = {}
        self.hist: dict[str, list[Deployment]] = {}
        self.built: list[str] = []
        self.never_ready: set[int] = set()
        self.wrong_class: set[int] = set()
        for env in names.ENVIRONMENTS:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.version, server.answer = 0, names.CLASSES[0]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[env] = server

    def close(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def build(self, model_version, registry):
        tag = names.image_tag(names.STAGING, model_version)
        self.built.append(tag)
        return tag

    def copy_tag(self, source_env, target_env, model_version):
        return names.image_tag(target_env, model_version)

    def deploy(self, env, model_version):
        if model_version in self.never_ready:
            raise DeployError(f"{names.image_tag(env, model_version)} never got ready")
        server = self.servers[env]
        server.version = model_version
        server.answer = "Pizza" if model_version in self.wrong_class else names.CLASSES[model_version % 11]
        self.hist.setdefault(env, []).append(Deployment(model_version, names.image_tag(env, model_version)))

    def url(self, env):
        return f"http://127.0.0.1:{self.servers[env].server_address[1]}"

    def deployed_version(self, env):
        history = self.hist.get(env)
        return history[-1].version if history else None

    def history(self, env):
        return list(self.hist.get(env, []))


class FakeRegistry:
    def __init__(self):
        self.alias: dict[str, int] = {}
        self.tags: dict[int, dict[str, str]] = {}
        self.fail_on: str = ""

    def set_alias(self, alias, model_version):
        if alias == self.fail_on:
            raise RegistryError(f"MLflow at http://127.0.0.1:1: setting alias {alias} failed: connection refused")
        self.alias[alias] = int(model_version)

    def approve(self, model_version, url=""):
        self.tags.setdefault(int(model_version), {})[rules.APPROVAL_TAG] = rules.APPROVAL_TAG_VALUE
        self.set_alias(names.ALIAS_STAGING_APPROVED, model_version)

    def is_approved(self, model_version):
        aliases = [a for a, v in self.alias.items() if v == int(model_version)]
        return rules.is_approved(self.tags.get(int(model_version), {}), aliases)


@pytest.fixture
def lifecycle():
    target, registry = FakeTarget(), FakeRegistry()
    lc = Lifecycle(target, registry, say=lambda line: None, staging_timeout=2)
    yield lc
    target.close()


def _serves(lc) -> dict[str, int | None]:
    return {env: lc.target.deployed_version(env) for env in names.ENVIRONMENTS}


def test_release_runs_the_steps_in_lab_order(lifecycle):
    lifecycle.release(1)
    # The order gourmetgram/lifecycle/order.py declares (release() loops over it; tests/unit/lifecycle/
    # test_lifecycle_order.py checks it against the workflows).
    assert [name for name, _ in lifecycle.timings] == [step for stage in order.RELEASE for step in stage.steps]
    assert lifecycle.timings[0][0] == "alias development" and lifecycle.timings[-1][0] == "alias canary"
    assert lifecycle.registry.alias == {
        names.ALIAS_DEVELOPMENT: 1,
        names.ALIAS_STAGING: 1,
        names.ALIAS_STAGING_APPROVED: 1,
        names.ALIAS_CANARY: 1,
    }
    assert _serves(lifecycle) == {names.STAGING: 1, names.CANARY: 1, names.PRODUCTION: None}


def test_never_ready_version_fails_the_staging_test_and_changes_nothing_served(lifecycle):
    lifecycle.release(1)
    lifecycle.target.never_ready.add(2)
    with pytest.raises(StepFailed) as failed:
        lifecycle.release(2)
    assert failed.value.step == "test staging"
    assert "reports 1.0.1, expected 1.0.2" in failed.value.reason and "never got ready" in failed.value.reason
    assert _serves(lifecycle) == {names.STAGING: 1, names.CANARY: 1, names.PRODUCTION: None}
    assert lifecycle.registry.alias[names.ALIAS_STAGING_APPROVED] == 1
    assert lifecycle.registry.alias[names.ALIAS_CANARY] == 1
    assert not lifecycle.registry.is_approved(2)


def test_version_that_fails_its_test_after_deploy_is_replaced_by_the_previous_one(lifecycle):
    lifecycle.release(1)
    lifecycle.target.wrong_class.add(2)
    with pytest.raises(StepFailed) as failed:
        lifecycle.release(2)
    assert failed.value.step == "test staging" and "'Pizza'" in failed.value.reason
    assert "restore staging" in [name for name, _ in lifecycle.timings]
    assert [d.version for d in lifecycle.target.history(names.STAGING)] == [1, 2, 1]
    assert _serves(lifecycle) == {names.STAGING: 1, names.CANARY: 1, names.PRODUCTION: None}
    assert lifecycle.registry.alias[names.ALIAS_STAGING_APPROVED] == 1


def test_registry_failure_names_the_step_and_deploys_nothing(lifecycle):
    lifecycle.registry.fail_on = names.ALIAS_DEVELOPMENT
    with pytest.raises(StepFailed) as failed:
        lifecycle.release(1)
    assert failed.value.step == "alias development" and "MLflow at" in failed.value.reason
    assert lifecycle.target.built == []
    assert _serves(lifecycle) == dict.fromkeys(names.ENVIRONMENTS)


def test_promotion_moves_the_alias_only_after_the_deploy(lifecycle):
    lifecycle.release(1)
    lifecycle.registry.fail_on = names.ALIAS_PRODUCTION
    with pytest.raises(StepFailed, match="setting alias production failed"):
        lifecycle.promote(names.CANARY, names.PRODUCTION, 1)
    assert lifecycle.target.deployed_version(names.PRODUCTION) == 1
    lifecycle.registry.fail_on = ""
    lifecycle.target.never_ready.add(1)
    lifecycle.registry.alias.pop(names.ALIAS_PRODUCTION, None)
    with pytest.raises(StepFailed) as failed:
        lifecycle.promote(names.CANARY, names.PRODUCTION, 1)
    assert failed.value.step == "deploy production"
    assert names.ALIAS_PRODUCTION not in lifecycle.registry.alias


def test_rollback_deploys_the_previous_known_good_version_and_moves_the_alias(lifecycle):
    lifecycle.release(1)
    lifecycle.promote(names.CANARY, names.PRODUCTION, 1)
    lifecycle.release(2)
    lifecycle.promote(names.CANARY, names.PRODUCTION, 2)
    assert lifecycle.rollback(names.PRODUCTION) == 1
    assert lifecycle.target.deployed_version(names.PRODUCTION) == 1
    assert lifecycle.registry.alias[names.ALIAS_PRODUCTION] == 1
    # An unknown environment is refused where it is typed (tests/unit/local/test_local_task_inputs.py).
