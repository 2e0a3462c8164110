"""The whole lifecycle on one real local platform (MLflow, Traefik, supervisord, gunicorn).

The tests run in file order on one module-scoped platform, as a person would:
good model to production, a bad model that stops at staging, a second good
model promoted under continuous traffic, the gateway split, rollback, a crash,
down/up and the lock.
"""

from __future__ import annotations

import collections
import math
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from gourmetgram import names, values
from gourmetgram.lifecycle import rules
from gourmetgram.lifecycle.steps import StepFailed
from gourmetgram.local import operations
from gourmetgram.local.state import PlatformLock

pytestmark = pytest.mark.slow

VERSIONS: dict[str, int] = {}  # name in this module -> registered version


def served_version(url: str) -> str:
    resp = requests.get(f"{url}/version", timeout=10)
    resp.raise_for_status()
    return resp.json()["model_version"]


def _aliases(platform) -> dict[str, int]:
    return platform.registry().aliases()


def _serving(platform) -> dict[str, str]:
    return {env: served_version(platform.url(env)) for env in names.ENVIRONMENTS}


class Traffic:
    """GET /version continuously through the gateway and on the production and canary ports.

    Bounded: stops by itself after max_seconds or max_requests."""

    def __init__(self, urls: list[str], max_seconds: float = 900, max_requests: int = 200_000):
        self.urls = urls
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.ok = 0
        self.failures: list[str] = []
        self.versions: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.max_seconds
        i = 0
        while not self._stop.is_set() and time.monotonic() < deadline and i < self.max_requests:
            url = self.urls[i % len(self.urls)]
            i += 1
            try:
                resp = session.get(f"{url}/version", timeout=10)
                if resp.status_code == 200:
                    self.ok += 1
                    self.versions[resp.json()["model_version"]] += 1
                else:
                    self.failures.append(f"{url}: HTTP {resp.status_code} {resp.text[:100]}")
            except (requests.RequestException, ValueError) as exc:
                self.failures.append(f"{url}: {type(exc).__name__}: {exc}")
            time.sleep(0.01)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)


def test_good_model_goes_to_canary(platform):
    lc = operations.train(platform)
    v = VERSIONS["good"] = lc.version
    aliases = _aliases(platform)
    for alias in (names.ALIAS_DEVELOPMENT, names.ALIAS_STAGING, names.ALIAS_STAGING_APPROVED, names.ALIAS_CANARY):
        assert aliases[alias] == v, aliases
    assert names.ALIAS_PRODUCTION not in aliases
    tags = platform.registry().tags(v)
    assert tags[rules.APPROVAL_TAG] == rules.APPROVAL_TAG_VALUE
    assert served_version(platform.url(names.STAGING)) == names.version_string(v)
    assert served_version(platform.url(names.CANARY)) == names.version_string(v)
    # Only canary is deployed among the gateway's backends: it answers everything.
    assert served_version(platform.gateway_url) == names.version_string(v)
    steps = [name for name, _ in lc.timings]
    assert steps == [
        "train",
        "alias development",
        "build",
        "alias staging",
        "deploy staging",
        "test staging",
        "approve",
        "promote staging->canary",
        "deploy canary",
        "alias canary",
    ]
    assert {names.image_tag(env, v) for env in (names.STAGING, names.CANARY)} <= set(platform.bundles.tags())


def test_promote_to_production_serves_on_every_port(platform):
    v = VERSIONS["good"]
    operations.promote(platform, names.CANARY, names.PRODUCTION, v)
    assert _aliases(platform)[names.ALIAS_PRODUCTION] == v
    expected = names.version_string(v)
    assert _serving(platform) == dict.fromkeys(names.ENVIRONMENTS, expected)
    assert served_version(platform.gateway_url) == expected
    # The entries listen on the ports configured for this platform.
    for env in names.ENVIRONMENTS:
        assert platform.url(env).endswith(f":{platform.settings.ports.env(env)}")


def test_feedback_reaches_the_shared_capture_store_and_status(platform):
    """A prediction on production, its correction sent to canary (as the gateway may): one store for all."""
    from tests.support.app_server import jpeg_bytes

    version = names.version_string(VERSIONS["good"])
    image = jpeg_bytes()
    pred = requests.post(
        f"{platform.url(names.PRODUCTION)}/predict",
        files={"file": ("food.jpg", image, "image/jpeg")},
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()
    other = next(c for c in names.CLASSES if c != pred["class_name"])
    fb = requests.post(
        f"{platform.url(names.CANARY)}/feedback",
        json={"prediction_id": pred["prediction_id"], "correct": False, "true_class": other},
        timeout=30,
    )
    assert fb.status_code == 200, fb.text
    assert (fb.json()["environment"], fb.json()["model_version"]) == (names.PRODUCTION, version)
    rows = {(r["environment"], r["model_version"]): r for r in platform.status()["feedback"]["rows"]}
    assert rows[(names.PRODUCTION, version)]["labels"] == 1
    assert rows[(names.PRODUCTION, version)]["right"] == 0


def test_bad_model_stops_at_staging(platform):
    good = VERSIONS["good"]
    with pytest.raises(StepFailed) as failed:
        # As the lab's flow.py: the bad model is the good checkpoint saved as a state dict only.
        operations.train(platform, bad=True, emulate=True)
    assert failed.value.step == "test staging"
    assert "state-dict" in failed.value.reason  # the app's own reason, carried into the failure
    bad = max(platform.registry().versions())
    VERSIONS["bad"] = bad
    assert bad > good
    aliases = _aliases(platform)
    assert aliases[names.ALIAS_DEVELOPMENT] == bad and aliases[names.ALIAS_STAGING] == bad
    assert aliases[names.ALIAS_STAGING_APPROVED] == good
    assert aliases[names.ALIAS_CANARY] == good and aliases[names.ALIAS_PRODUCTION] == good
    assert not platform.registry().is_approved(bad)
    # Every environment still serves the good version; staging keeps its previous one.
    assert _serving(platform) == dict.fromkeys(names.ENVIRONMENTS, names.version_string(good))
    assert platform.target.deployed_version(names.STAGING) == good


def test_promote_refuses_an_unapproved_version(platform):
    bad = VERSIONS["bad"]
    with pytest.raises(StepFailed, match="not staging-approved"):
        operations.promote(platform, names.STAGING, names.CANARY, bad)
    with pytest.raises(StepFailed, match="not staging-approved"):
        operations.promote(platform, names.CANARY, names.PRODUCTION, bad)
    assert _aliases(platform)[names.ALIAS_CANARY] == VERSIONS["good"]


def test_new_version_to_canary_under_traffic_without_failures(platform):
    urls = [platform.gateway_url, platform.url(names.CANARY), platform.url(names.PRODUCTION)]
    with Traffic(urls) as traffic:
        lc = operations.train(platform, emulate=True)  # a new version from the trained checkpoint (the lab's emulation)
    VERSIONS["new"] = lc.version
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.ok > 50
    assert served_version(platform.url(names.CANARY)) == names.version_string(lc.version)
    assert served_version(platform.url(names.PRODUCTION)) == names.version_string(VERSIONS["good"])


def test_promote_refuses_a_version_the_source_does_not_serve(platform):
    good = VERSIONS["good"]  # approved, but canary now serves the new version
    with pytest.raises(StepFailed, match=f"version {good} is not in canary"):
        operations.promote(platform, names.CANARY, names.PRODUCTION, good)
    assert served_version(platform.url(names.PRODUCTION)) == names.version_string(good)


def test_gateway_split_matches_the_helm_weights(platform):
    """>= 1000 requests through the gateway; the canary share within the binomial 99.9% interval."""
    weights = values.route_weights()
    p = weights[names.CANARY] / sum(weights.values())
    n = 1000
    canary_version = names.version_string(VERSIONS["new"])
    production_version = names.version_string(VERSIONS["good"])
    counts: collections.Counter[str] = collections.Counter()
    with requests.Session() as session:
        for _ in range(n):
            resp = session.get(f"{platform.gateway_url}/version", timeout=10)
            assert resp.status_code == 200
            counts[resp.json()["model_version"]] += 1
    assert set(counts) <= {canary_version, production_version}
    z = 3.29  # two-sided 99.9%
    half_width = z * math.sqrt(n * p * (1 - p))
    print(f"gateway split over {n} requests: canary {counts[canary_version]} ({counts[canary_version] / n:.1%})")
    assert n * p - half_width <= counts[canary_version] <= n * p + half_width, counts


def test_promote_to_production_under_traffic_without_failures(platform):
    v = VERSIONS["new"]
    urls = [platform.gateway_url, platform.url(names.PRODUCTION), platform.url(names.CANARY)]
    with Traffic(urls) as traffic:
        operations.promote(platform, names.CANARY, names.PRODUCTION, v)
        time.sleep(1)
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.versions[names.version_string(v)] > 0
    assert served_version(platform.url(names.PRODUCTION)) == names.version_string(v)
    assert _aliases(platform)[names.ALIAS_PRODUCTION] == v


def test_rollback_restores_the_previous_known_good_version(platform):
    good = VERSIONS["good"]
    assert operations.rollback(platform, names.PRODUCTION) == good
    assert served_version(platform.url(names.PRODUCTION)) == names.version_string(good)
    assert _aliases(platform)[names.ALIAS_PRODUCTION] == good
    # Staging's history is good, new (the bad one was never switched in): rollback goes to good.
    assert operations.rollback(platform, names.STAGING) == good
    assert served_version(platform.url(names.STAGING)) == names.version_string(good)


def test_crashed_app_is_restarted_and_status_shows_it(platform):
    cur = platform.state.deployments().current[names.CANARY]
    info = platform.supervisor.info(cur.program)
    os.kill(info["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 90
    while True:
        try:
            if served_version(platform.url(names.CANARY)) == names.version_string(cur.version):
                new = platform.supervisor.info(cur.program)
                if new["statename"] == "RUNNING" and new["pid"] != info["pid"]:
                    break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "canary did not come back within 90 s"
        time.sleep(0.5)
    row = platform.status()["environments"][names.CANARY]
    assert f"restarted; was pid {info['pid']}" in row["process"]
    assert row["health"] == "ready"


def test_second_lifecycle_command_gets_the_lock_message(platform):
    env = dict(os.environ, GG_STATE_DIR=str(platform.state.root))
    cmd = [sys.executable, "-m", "invoke", "local.rollback", "--env", names.CANARY]
    with PlatformLock(platform.state, "local.train (held by the test)"):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=values.REPO_ROOT, timeout=120)
    assert out.returncode == 1
    assert "the local platform is busy" in out.stderr and "local.train (held by the test)" in out.stderr
    assert "Traceback" not in out.stderr


def _cli(platform, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=platform.mlflow_url)
    cmd = [sys.executable, "-m", "gourmetgram.lifecycle", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=values.REPO_ROOT, timeout=180)


def test_lifecycle_cli_the_argo_steps_use(platform, tmp_path):
    good, bad = VERSIONS["good"], VERSIONS["bad"]
    assert _cli(platform, "check-approved", "--version", str(good)).returncode == 0
    refused = _cli(platform, "check-approved", "--version", str(bad))
    assert refused.returncode == 1 and "not staging-approved" in refused.stderr
    fetched = _cli(platform, "fetch-model", "--version", str(good), "--out", str(tmp_path))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "versions.txt").read_text().strip() == names.version_string(good)
    assert {"model.onnx", "model.json"} <= {p.name for p in (tmp_path / "model").iterdir()}
    staging = platform.url(names.STAGING)
    current = platform.target.deployed_version(names.STAGING)
    passed = _cli(platform, "test-staging", "--url", staging, "--version", str(current), "--no-approve")
    assert passed.returncode == 0, passed.stderr
    failed = _cli(platform, "test-staging", "--url", staging, "--version", str(bad), "--timeout", "2")
    assert failed.returncode == 1 and f"did not report {names.version_string(bad)}" in failed.stderr
    assert _aliases(platform)[names.ALIAS_STAGING_APPROVED] != bad
    usage = _cli(platform, "set-alias", "--alias", "prod", "--version", "1")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_down_then_up_restores_what_was_deployed(platform):
    before = _serving(platform)
    aliases = _aliases(platform)
    operations.down(platform)
    for env in names.ENVIRONMENTS:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{platform.url(env)}/version", timeout=5)
    operations.up(platform)
    assert _serving(platform) == before
    assert _aliases(platform) == aliases
    assert platform.status()["up"]
