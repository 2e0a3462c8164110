"""The canary analysis on one real local platform (Prometheus, Traefik, MLflow, gunicorn).

One version is trained and promoted by hand; every candidate after it is a new registered
version of the same artifact (fast), released through staging to canary as usual. Bad
candidates are planted with the app's test-only GG_TEST_FAULT on that version's process.
Intervals are the CI-sized local plan (k8s/platform/values.yaml canary.local).
"""

from __future__ import annotations

import time

import pytest

from gourmetgram import names
from gourmetgram.canary import decide, plan, record
from gourmetgram.canary.load import LoadGenerator, images
from gourmetgram.lifecycle.steps import Lifecycle
from gourmetgram.local import operations
from gourmetgram.local.state import PlatformLock

pytestmark = pytest.mark.slow
PLAN = plan.from_values(local=True)


@pytest.fixture(scope="module")
def base(platform):
    lc = operations.train(platform)
    operations.promote(platform, names.CANARY, names.PRODUCTION, lc.version)
    return lc.version


def candidate(platform, base: int, fault: str = "") -> int:
    """A new registered version of the base artifact, released to canary (with a planted fault)."""
    reg = platform.registry()
    mv = reg.version(base)
    new = reg._client.create_model_version(names.MODEL_NAME, mv.source, run_id=mv.run_id)
    n = int(new.version)
    if fault:
        platform.target.app_env_overrides[n] = {"GG_TEST_FAULT": fault}
    with PlatformLock(platform.state, "test release"):
        Lifecycle(platform.target, reg, say=platform.say).release(n)
    platform.set_gateway_weights({names.PRODUCTION: 90, names.CANARY: 10})
    return n


def load(platform, clients: int = 6) -> LoadGenerator:
    return LoadGenerator(
        platform.gateway_url, images(platform.state.path("data", "Food-11")), clients=clients, max_seconds=300
    ).start()


def _state(platform) -> dict:
    return {
        "production": platform.target.deployed_version(names.PRODUCTION),
        "aliases": {a: v for a, v in platform.registry().aliases().items() if a != names.ALIAS_CANARY},
    }


def test_a_healthy_candidate_is_promoted_unattended_with_zero_gateway_errors(platform, base):
    n = candidate(platform, base)
    gen = load(platform)
    report = operations.canary(platform, n, load=False)
    summary = gen.stop()
    print("load during the rollout:", summary)
    assert report["verdict"] == decide.PROMOTE, report["reason"]
    assert [s["weight"] for s in report["steps"]] == list(PLAN.steps[:-1])
    assert platform.target.deployed_version(names.PRODUCTION) == n
    assert platform.registry().aliases()[names.ALIAS_PRODUCTION] == n
    assert platform.gateway_weights() == {names.PRODUCTION: 90, names.CANARY: 10}
    assert summary["non_2xx"] == 0, summary
    assert summary["requests"] >= 2000, summary
    tags = platform.registry().tags(n)
    assert tags[record.VERDICT_TAG] == decide.PROMOTE and tags[record.ARTIFACT_TAG].startswith("runs:/")


@pytest.mark.parametrize(
    "fault, failing_check",
    [("errors:0.05", "error_rate"), ("latency:0.25", "latency_p95"), ("constant-class:Egg", "class_divergence")],
)
def test_a_planted_bad_candidate_is_aborted_within_two_intervals(platform, base, fault, failing_check, capsys):
    n = candidate(platform, base, fault)
    before = _state(platform)
    known_good = platform.target.deployed_version(names.PRODUCTION)
    gen = load(platform)
    t0 = time.monotonic()
    report = operations.canary(platform, n, load=False)
    took = time.monotonic() - t0
    print(f"{fault}: verdict {report['verdict']} after {took:.1f}s; load {gen.stop()}")
    assert report["verdict"] == decide.ABORT, report["reason"]
    measurements = [m for s in report["steps"] for m in s["measurements"]]
    assert len(measurements) <= 2
    assert failing_check in {c["name"] for c in measurements[-1]["checks"] if c["phase"] == decide.FAILED}
    assert report["weight_zero_after_s"] <= 5.0
    assert platform.gateway_weights() == {names.PRODUCTION: 100, names.CANARY: 0}
    assert _state(platform) == before  # production's version and every alias but canary unchanged
    assert platform.target.deployed_version(names.CANARY) == known_good
    assert platform.registry().aliases()[names.ALIAS_CANARY] == known_good
    assert record.aborted(platform.registry().tags(n))
    # local.status tells why.
    from gourmetgram.tasks.local import _print_status

    _print_status(platform)
    shown = capsys.readouterr().out
    assert "canary analysis: aborted at" in shown and failing_check in shown
    assert "Prometheus:" in shown and "split production 100% / canary 0%" in shown


def test_no_traffic_is_inconclusive_never_a_pass(platform, base):
    n = candidate(platform, base)
    before = _state(platform)
    report = operations.canary(platform, n, load=False)
    assert report["verdict"] == decide.PAUSE, report["reason"]
    measurements = [m for s in report["steps"] for m in s["measurements"]]
    assert len(measurements) == PLAN.inconclusive_limit + 1
    assert all(m["phase"] == decide.INCONCLUSIVE for m in measurements)
    assert [s["weight"] for s in report["steps"]] == [PLAN.steps[0]]  # never moved past the first step
    assert _state(platform) == before
    assert "paused" in record.summary(platform.registry().tags(n))


def test_prometheus_scrapes_every_environment_and_traefik_and_knows_the_dashboard_metrics(platform, base):
    from gourmetgram.canary.signals import Prometheus
    from tests.unit.canary.test_canary_rules_and_dashboard import TRAEFIK_METRICS

    prom = Prometheus(platform.prometheus_url)
    assert platform.prometheus_url.startswith("http://127.0.0.1:")
    up = {(m["job"], m["instance"]): v for m, v in prom.query("up")}
    ports = platform.settings.ports
    for env in names.ENVIRONMENTS:
        assert up[("gourmetgram-app", f"127.0.0.1:{ports.env(env)}")] == 1, env
    assert up[("traefik", f"127.0.0.1:{ports.traefik_api}")] == 1
    # The Traefik names the rules and the dashboard rely on are real (the offline test trusts this list).
    exported = {m["__name__"] for m, _ in prom.query('count by (__name__) ({__name__=~"traefik_.+"})')}
    assert TRAEFIK_METRICS <= exported, TRAEFIK_METRICS - exported
