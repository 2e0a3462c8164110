"""Endpoint checks against a live deployment: MLflow and the registered model,
each environment's /version and /test, and the gateway's weighted split."""

from __future__ import annotations

import collections
import math
import re

import pytest
import requests

from gourmetgram import names, values

TIMEOUT = 10
# The app's page names the environment that served it (GG_ENVIRONMENT, set by
# the charts and the local platform): that tells the gateway's backends apart
# even when canary and production serve the same model version.
ENVIRONMENT_SPAN = re.compile(r'<span id="environment">([a-z]+)</span>')
SPLIT_REQUESTS = 1000
Z_999 = 3.29  # two-sided 99.9% normal quantile


@pytest.fixture(scope="module")
def aliases(endpoints) -> dict[str, int]:
    resp = requests.get(
        f"{endpoints.mlflow}/api/2.0/mlflow/registered-models/get", params={"name": names.MODEL_NAME}, timeout=TIMEOUT
    )
    assert resp.status_code == 200, f"registered model {names.MODEL_NAME} not found: {resp.status_code} {resp.text}"
    return {a["alias"]: int(a["version"]) for a in resp.json()["registered_model"].get("aliases", [])}


def test_mlflow_answers(endpoints):
    resp = requests.get(f"{endpoints.mlflow}/health", timeout=TIMEOUT)
    assert resp.status_code == 200 and resp.text.strip() == "OK", resp.text


def test_registered_model_carries_the_lifecycle_aliases(aliases):
    for alias in (names.ALIAS_STAGING, names.ALIAS_STAGING_APPROVED, names.ALIAS_CANARY, names.ALIAS_PRODUCTION):
        assert alias in aliases, f"alias {alias} missing; the registry has {aliases}"


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_environment_reports_a_version(endpoints, aliases, env):
    resp = requests.get(f"{endpoints.envs[env]}/version", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    served = names.parse_version_string(resp.json()["model_version"])
    # Promotion sets the canary/production alias only after the deploy is live.
    # (Staging may keep serving the previous version after a failed staging test.)
    if env != names.STAGING:
        assert served == aliases[env], f"{env} serves 1.0.{served}, the {env} alias points at {aliases[env]}"


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_environment_test_route_answers_a_class(endpoints, env):
    resp = requests.get(f"{endpoints.envs[env]}/test", timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    assert resp.text.strip() in names.CLASSES


def test_gateway_split_within_binomial_bounds(endpoints):
    weights = values.route_weights()
    p = weights[names.CANARY] / sum(weights.values())
    counts: collections.Counter[str] = collections.Counter()
    with requests.Session() as session:
        for _ in range(SPLIT_REQUESTS):
            resp = session.get(f"{endpoints.gateway}/", timeout=TIMEOUT)
            assert resp.status_code == 200, resp.text[:300]
            m = ENVIRONMENT_SPAN.search(resp.text)
            assert m, "the page does not name its environment (GG_ENVIRONMENT unset?)"
            counts[m.group(1)] += 1
    assert set(counts) <= set(weights), f"the gateway reached {set(counts) - set(weights)}"
    n = SPLIT_REQUESTS
    half_width = Z_999 * math.sqrt(n * p * (1 - p))
    print(f"gateway split over {n} requests: {dict(counts)} (canary expected {p:.0%} +- {half_width / n:.1%})")
    assert n * p - half_width <= counts[names.CANARY] <= n * p + half_width, counts
