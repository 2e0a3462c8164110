"""Local mechanics of the canary analysis: gateway weights in Traefik's dynamic config, and
the Prometheus program (loopback only, the one rules file, every environment scraped)."""

from __future__ import annotations

import pytest

from gourmetgram import names, values
from gourmetgram.local import alerting, prometheus
from gourmetgram.local.state import PlatformError, Ports, Settings
from gourmetgram.local.traefik import GATEWAY, Traefik, check_weights, dynamic_config

BACKENDS = {names.PRODUCTION: 40001, names.CANARY: 40002, names.STAGING: 40003}


def _weighted(config: dict) -> dict[str, int]:
    return {s["name"]: s["weight"] for s in config["http"]["services"][GATEWAY]["weighted"]["services"]}


def test_default_split_is_the_helm_values():
    assert _weighted(dynamic_config(BACKENDS)) == values.route_weights()


def test_a_canary_step_and_weight_zero_leaves_the_canary_out():
    assert _weighted(dynamic_config(BACKENDS, weights={names.PRODUCTION: 75, names.CANARY: 25})) == {
        names.PRODUCTION: 75,
        names.CANARY: 25,
    }
    assert _weighted(dynamic_config(BACKENDS, weights={names.PRODUCTION: 100, names.CANARY: 0})) == {
        names.PRODUCTION: 100
    }


@pytest.mark.parametrize(
    "bad",
    [
        {names.PRODUCTION: 50, names.CANARY: 40},
        {names.PRODUCTION: 110, names.CANARY: -10},
        {names.PRODUCTION: 90, names.STAGING: 10},
    ],
)
def test_bad_weights_are_refused(bad):
    with pytest.raises(PlatformError):
        check_weights(bad)


def test_weights_are_remembered_so_a_deploy_keeps_the_split(tmp_path):
    t = Traefik(tmp_path, "127.0.0.1", Ports.defaults())
    assert t.weights() == values.route_weights()
    t.weights_path.write_text('{"production": 100, "canary": 0}')
    t.write_routes(BACKENDS)  # what a deploy's switch writes
    import yaml

    assert _weighted(yaml.safe_load(t.routes_path.read_text())) == {names.PRODUCTION: 100}


def test_prometheus_config_scrapes_every_environment_and_traefik_on_loopback():
    ports = Ports.defaults(offset=1000)
    assert ports.prometheus == values.prometheus_port() + 1000
    conf = prometheus.config(Settings("127.0.0.1", ports))
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    targets = [t for c in jobs[prometheus.APP_JOB]["static_configs"] for t in c["targets"]]
    assert targets == [f"127.0.0.1:{ports.env(env)}" for env in names.ENVIRONMENTS]
    assert jobs[prometheus.TRAEFIK_JOB]["static_configs"][0]["targets"] == [f"127.0.0.1:{ports.traefik_api}"]
    assert conf["rule_files"] == [str(prometheus.RULES_FILE), str(alerting.RULES_FILE)]
    assert prometheus.RULES_FILE.is_file() and alerting.RULES_FILE.is_file()
    # The retraining alerts go to the local Alertmanager, on loopback.
    targets = conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"127.0.0.1:{values.alertmanager_port() + 1000}"]
