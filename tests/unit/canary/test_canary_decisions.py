"""The canary analysis' plan, checks, limits and step loop, without Prometheus or MLflow."""

from __future__ import annotations

import math

import pytest

from gourmetgram.canary import decide, gateways, plan, record, rollout
from gourmetgram.canary.decide import Signals

CHECKS = plan.Checks(
    max_error_rate=0.01,
    max_latency_ratio=1.5,
    latency_slack=0.05,
    max_class_divergence=0.2,
    max_confidence_drop=0.1,
    min_labels=30,
    max_accuracy_drop=0.05,
)
MIX = {"Bread": 30, "Egg": 50, "Rice": 20}


def healthy(requests=100.0, labels=40.0, accuracy=0.9) -> Signals:
    return Signals(requests, 0.0, 0.05, 0.8, dict(MIX), labels=labels, accuracy=accuracy)


def test_plan_from_values_and_the_local_ci_sized_timing():
    cluster, local = plan.from_values(), plan.from_values(local=True)
    assert cluster.steps == local.steps == (10, 25, 50, 100)
    assert local.interval < cluster.interval
    assert (cluster.failure_limit, cluster.inconclusive_limit) == (1, 2)
    assert (cluster.checks.min_labels, cluster.checks.max_accuracy_drop) == (30, 0.05)


@pytest.mark.parametrize(
    "bad",
    [{"steps": (10, 50)}, {"steps": (50, 25, 100)}, {"steps": (0, 100)}, {"interval": 0}, {"min_requests": 0}],
)
def test_a_bad_plan_is_refused(bad):
    with pytest.raises(plan.PlanError):
        plan.from_values(**bad)


@pytest.mark.parametrize("bad", [{"min_labels": 0}, {"max_accuracy_drop": -0.1}, {"max_accuracy_drop": 1.5}])
def test_bad_accuracy_thresholds_are_refused(bad):
    with pytest.raises(plan.PlanError, match="minLabels"):
        plan.Checks(**{**vars(CHECKS), **bad})


def test_durations():
    assert plan.seconds("5m") == 300 and plan.seconds("4s") == 4 and plan.seconds("250ms") == 0.25
    with pytest.raises(plan.PlanError):
        plan.seconds("soon")


def test_jensen_shannon_is_0_for_the_same_mix_1_for_disjoint_and_symmetric():
    assert decide.jensen_shannon(MIX, {k: v * 3 for k, v in MIX.items()}) == pytest.approx(0)
    assert decide.jensen_shannon({"Bread": 5}, {"Egg": 7}) == pytest.approx(1)
    a, b = {"Bread": 1, "Egg": 3}, {"Bread": 2, "Egg": 2}
    assert decide.jensen_shannon(a, b) == pytest.approx(decide.jensen_shannon(b, a))
    assert decide.jensen_shannon({}, MIX) is None


def test_a_healthy_canary_passes_every_check():
    m = decide.measure(healthy(), healthy(), CHECKS, 50)
    assert m.phase == decide.SUCCESSFUL and all(c.phase == decide.SUCCESSFUL for c in m.checks)


@pytest.mark.parametrize(
    "change, failing",
    [
        ({"error_rate": 0.05}, "error_rate"),
        ({"latency_p95": 0.3}, "latency_p95"),  # 0.05 * 1.5 + 0.05 = 0.125 s allowed
        ({"classes": {"Egg": 100}}, "class_divergence"),
        ({"confidence_mean": 0.6}, "confidence_drop"),
        ({"accuracy": 0.8}, "accuracy_drop"),  # production 0.9, 40 labels each
    ],
)
def test_each_planted_problem_fails_its_check(change, failing):
    canary = healthy()
    for k, v in change.items():
        setattr(canary, k, v)
    m = decide.measure(canary, healthy(), CHECKS, 50)
    assert m.phase == decide.FAILED
    assert [c.name for c in m.checks if c.phase == decide.FAILED] == [failing]
    assert failing in m.reason


def test_enough_labels_and_a_worse_canary_fails_naming_accuracy_drop():
    m = decide.measure(healthy(labels=30, accuracy=0.84), healthy(labels=200, accuracy=0.9), CHECKS, 50)
    assert m.phase == decide.FAILED and m.reason == "accuracy_drop 0.06 > 0.05"
    (acc,) = [c for c in m.checks if c.name == "accuracy_drop"]
    assert acc.phase == decide.FAILED and "0.900 - canary's 0.840 <= 0.05 (200 and 30 labels)" in acc.condition


@pytest.mark.parametrize("canary_accuracy", [0.86, 0.9, 0.97])  # drop 0.04, 0, -0.07 (better)
def test_enough_labels_and_an_accuracy_within_the_margin_passes(canary_accuracy):
    m = decide.measure(healthy(accuracy=canary_accuracy), healthy(accuracy=0.9), CHECKS, 50)
    assert m.phase == decide.SUCCESSFUL and m.reason == "every check passed"
    assert [c.phase for c in m.checks if c.name == "accuracy_drop"] == [decide.SUCCESSFUL]


@pytest.mark.parametrize(
    "canary_labels, production_labels, why",
    [
        (12, 200, "skipped: canary 12 labels < 30"),
        (200, 29.5, "skipped: production 29.5 labels < 30"),
        (0, 0, "skipped: canary 0 labels < 30, production 0 labels < 30"),
    ],
)
def test_too_few_labels_skips_the_accuracy_check_and_says_so(canary_labels, production_labels, why):
    # Even a canary right only 10 % of the time is not judged on too few labels: skipped, never a silent pass.
    canary = healthy(labels=canary_labels, accuracy=0.1 if canary_labels else None)
    m = decide.measure(canary, healthy(labels=production_labels), CHECKS, 50)
    (acc,) = [c for c in m.checks if c.name == "accuracy_drop"]
    assert (acc.phase, acc.value, acc.condition) == (decide.SKIPPED, None, why)
    assert m.phase == decide.SUCCESSFUL and m.reason == f"every check passed; accuracy_drop {why}"
    lines = decide.format_measurement(10, 1, m)
    assert any("accuracy_drop" in line and decide.SKIPPED in line and why in line for line in lines)
    assert f"labels canary {canary_labels:.0f}, production {production_labels:.0f}" in lines[1]


def test_exactly_min_labels_on_both_sides_is_judged():
    m = decide.measure(healthy(labels=30, accuracy=0.5), healthy(labels=30), CHECKS, 50)
    assert m.phase == decide.FAILED and "accuracy_drop" in m.reason


def test_too_few_requests_is_inconclusive_even_when_every_check_would_pass():
    m = decide.measure(healthy(requests=10), healthy(), CHECKS, 50)
    assert m.phase == decide.INCONCLUSIVE and "canary answered 10 < 50" in m.reason
    m = decide.measure(healthy(requests=10), healthy(), CHECKS, 50)
    assert m.phase != decide.SUCCESSFUL


def test_no_data_is_inconclusive_never_a_pass():
    m = decide.measure(Signals(0.0), Signals(0.0), CHECKS, 1)
    assert m.phase == decide.INCONCLUSIVE
    assert all(c.value is None for c in m.checks)


def test_limits_in_argo_rollouts_terms():
    t = decide.Tally(failure_limit=1, inconclusive_limit=2)
    assert t.add(decide.FAILED) is None and t.add(decide.FAILED) == decide.ABORT
    t = decide.Tally(failure_limit=1, inconclusive_limit=2)
    assert [t.add(decide.INCONCLUSIVE) for _ in range(3)] == [None, None, decide.PAUSE]


def test_argo_cd_weight_parameters_replace_only_the_route_weights():
    spec = {"source": {"helm": {"parameters": [{"name": "gateway.externalIP", "value": "10.0.0.1"}]}}}
    out = gateways.with_weights(spec, gateways.step_weights(25))
    params = {p["name"]: p["value"] for p in out["source"]["helm"]["parameters"]}
    assert params == {
        "gateway.externalIP": "10.0.0.1",
        "route.backends[0].environment": "production",
        "route.backends[0].port": "8080",
        "route.backends[0].weight": "75",
        "route.backends[1].environment": "canary",
        "route.backends[1].port": "8081",
        "route.backends[1].weight": "25",
    }
    assert spec["source"]["helm"]["parameters"] == [{"name": "gateway.externalIP", "value": "10.0.0.1"}]


class FakeRegistry:
    def __init__(self):
        self.tags_of: dict[int, dict] = {1: {record.VERDICT_TAG: "promote"}, 2: {}, 3: {}}
        self.artifacts = {}

    def versions(self):
        return sorted(self.tags_of)

    def tags(self, v):
        return dict(self.tags_of[v])

    def set_tags(self, v, tags):
        self.tags_of[v].update(tags)

    def log_json(self, v, path, data):
        self.artifacts[path] = data
        return f"runs:/r/{path}"


class FakeGateway:
    def __init__(self):
        self.history = []

    def weights(self):
        return self.history[-1] if self.history else {}

    def set_weights(self, w):
        self.history.append(dict(w))


class FakeProm:
    """Answers the analysis' queries from a script of canary Signals, one per measurement."""

    def __init__(self, script, production=None):
        self.script = list(script)
        self.current = None
        self.production = production or healthy()

    def query(self, expr, at=None):
        if "requests" in expr and "code_class" in expr and "5xx" not in expr:
            self.current = self.script.pop(0)
        out = []
        for env, version, s in (("canary", "1.0.3", self.current), ("production", "1.0.2", self.production)):
            base = {"environment": env, "model_version": version}
            if "code_class" in expr and "5xx" not in expr:
                out.append(({**base, "code_class": "2xx"}, s.requests))
            elif 'code_class="5xx"' in expr and s.error_rate is not None:
                out.append((base, s.error_rate))
            elif "histogram_quantile" in expr and s.latency_p95 is not None:
                out.append((base, s.latency_p95))
            elif "class_name" in expr:
                out += [({**base, "class_name": k}, v) for k, v in s.classes.items()]
            elif "confidence_sum" in expr and s.confidence_mean is not None:
                out.append((base, s.confidence_mean))
            elif 'outcome="right"' in expr and s.accuracy is not None:
                out.append((base, s.accuracy))
            elif "gourmetgram_feedback_total" in expr and 'outcome="right"' not in expr:
                out.append((base, s.labels))
        return out


def run(script, production=None, **kw):
    reg, gw = FakeRegistry(), FakeGateway()
    done = {}
    r = rollout.Rollout(
        plan=plan.from_values(local=True),
        prometheus=FakeProm(script, production),
        gateway=gw,
        registry=reg,
        version=3,
        production_version=2,
        promote=lambda: done.setdefault("promoted", True),
        restore_canary=lambda v: done.setdefault("restored", v),
        say=lambda line: None,
        sleep=lambda s: None,
        **kw,
    )
    return r.run(), gw, reg, done


def test_rollout_promotes_a_healthy_canary_through_every_step():
    report, gw, reg, done = run([healthy()] * 3)
    assert report["verdict"] == decide.PROMOTE and done == {"promoted": True}
    assert [w["canary"] for w in gw.history] == [10, 25, 50, 100, 10]
    assert reg.tags_of[3][record.VERDICT_TAG] == decide.PROMOTE and len(reg.artifacts) == 1


def test_rollout_aborts_after_two_failed_measurements_and_restores_the_known_good_canary():
    bad = healthy()
    bad.error_rate = 0.05
    report, gw, reg, done = run([bad, bad])
    assert report["verdict"] == decide.ABORT
    assert gw.history[-1] == {"production": 100, "canary": 0}
    assert done == {"restored": 1}  # version 1 was promoted by the analysis; production is never touched
    assert "error_rate" in reg.tags_of[3][record.REASON_TAG]
    assert record.summary(reg.tags_of[3]).startswith("canary analysis: aborted")


def test_rollout_aborts_a_canary_less_accurate_on_enough_labels_read_through_the_rules():
    report, gw, reg, done = run([healthy(accuracy=0.7)] * 2)  # production 0.9, 40 labels each
    assert report["verdict"] == decide.ABORT and done == {"restored": 1}
    assert "accuracy_drop 0.2 > 0.05" in reg.tags_of[3][record.REASON_TAG]
    measured = report["steps"][0]["measurements"][0]
    assert (measured["canary"]["labels"], measured["production"]["accuracy"]) == (40, 0.9)


def test_rollout_promotes_on_too_few_labels_and_the_verdict_says_accuracy_was_not_judged():
    few = healthy(labels=3, accuracy=0.0)
    report, gw, reg, done = run([few] * 3, production=healthy(labels=50))
    assert report["verdict"] == decide.PROMOTE and done == {"promoted": True}
    assert report["reason"] == (
        "every check passed at 10%, 25%, 50%; accuracy_drop not judged at 10%, 25%, 50% (skipped: canary 3 labels < 30)"
    )


def test_rollout_pauses_when_there_is_no_traffic():
    report, gw, reg, done = run([Signals(0.0)] * 3)
    assert report["verdict"] == decide.PAUSE and done == {}
    assert gw.history[-1] == {"production": 90, "canary": 10}
    assert len(report["steps"]) == 1 and not math.isnan(report["steps"][0]["measurements"][0]["canary"]["requests"])


def test_an_unreachable_prometheus_is_inconclusive_then_a_pause_never_a_pass():
    from gourmetgram.canary.signals import PrometheusError

    class Down:
        def query(self, expr, at=None):
            raise PrometheusError("Prometheus at http://127.0.0.1:9 unreachable")

    reg, gw = FakeRegistry(), FakeGateway()
    r = rollout.Rollout(
        plan=plan.from_values(local=True),
        prometheus=Down(),
        gateway=gw,
        registry=reg,
        version=3,
        production_version=2,
        promote=lambda: pytest.fail("promoted without measurements"),
        restore_canary=lambda v: pytest.fail("restored"),
        say=lambda line: None,
        sleep=lambda s: None,
    )
    report = r.run()
    assert report["verdict"] == decide.PAUSE and "unreachable" in report["reason"]
    assert gw.history[-1] == {"production": 90, "canary": 10}


def test_an_interrupted_analysis_puts_the_split_back_and_reraises():
    class Boom(FakeGateway):
        def set_weights(self, w):
            super().set_weights(w)
            if w["canary"] == 25:
                raise RuntimeError("Traefik did not load the new routes")

    reg, gw = FakeRegistry(), Boom()
    r = rollout.Rollout(
        plan=plan.from_values(local=True),
        prometheus=FakeProm([healthy()] * 3),
        gateway=gw,
        registry=reg,
        version=3,
        production_version=2,
        promote=lambda: pytest.fail("promoted"),
        restore_canary=lambda v: pytest.fail("restored"),
        say=lambda line: None,
        sleep=lambda s: None,
    )
    with pytest.raises(RuntimeError, match="Traefik"):
        r.run()
    assert gw.history[-1] == {"production": 90, "canary": 10}
    assert record.VERDICT_TAG not in reg.tags_of[3]
