"""The shared words (names.py) and the Helm-values readers (values.py)."""

from __future__ import annotations

import pytest

from gourmetgram import names, values


def test_classes_are_the_eleven_food11_classes_in_order():
    assert len(names.CLASSES) == 11
    assert names.CLASSES[0] == "Bread"
    assert names.CLASSES[6] == "Noodles/Pasta"
    assert names.CLASSES[-1] == "Vegetable/Fruit"
    assert len(set(names.CLASSES)) == 11


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_image_tag_round_trips(env):
    tag = names.image_tag(env, 7)
    assert tag == f"{env}-1.0.7"
    assert names.parse_image_tag(tag) == (env, 7)


def test_initial_tag_is_version_zero():
    assert names.image_tag("staging", 0) == "staging-1.0.0"


@pytest.mark.parametrize("bad", ["dev-1.0.3", "staging-1.1.3", "staging-1.0.", "staging-1.0.x", "staging"])
def test_parse_image_tag_rejects_bad_tags(bad):
    with pytest.raises(ValueError, match="expected <env>-1.0.<N>"):
        names.parse_image_tag(bad)


@pytest.mark.parametrize("bad", [-1, "abc", "", "1.5"])
def test_version_string_rejects_non_versions(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        names.version_string(bad)


def test_version_string_round_trips():
    assert names.version_string("12") == "1.0.12"
    assert names.parse_version_string("1.0.12") == 12
    with pytest.raises(ValueError):
        names.parse_version_string("2.0.12")


def test_namespaces_and_unknown_environment():
    assert names.namespace("production") == "gourmetgram-production"
    assert names.namespace("platform") == "gourmetgram-platform"
    with pytest.raises(ValueError, match="unknown environment 'prod'"):
        names.namespace("prod")


def test_promotion_rules():
    names.check_promotion("staging", "canary")
    names.check_promotion("canary", "production")
    for src, dst in [("staging", "production"), ("production", "canary"), ("canary", "staging")]:
        with pytest.raises(ValueError, match="cannot promote"):
            names.check_promotion(src, dst)


def test_ports_come_from_the_helm_values():
    assert {env: values.env_port(env) for env in names.ENVIRONMENTS} == {
        "staging": 8082,
        "canary": 8081,
        "production": 8080,
    }
    assert values.mlflow_port() == 8000
    assert values.gateway_port() == 80
    assert values.container_port() == 8000


def test_route_weights_add_up_and_match_env_ports():
    assert values.route_weights() == {"production": 90, "canary": 10}


def test_route_weights_that_do_not_add_up_are_refused(monkeypatch):
    platform = dict(values.chart_values("platform"))
    platform["route"] = {"backends": [{"environment": "production", "port": 8080, "weight": 80}]}
    real = values.chart_values

    def fake(chart):
        return platform if chart == "platform" else real(chart)

    monkeypatch.setattr(values, "chart_values", fake)
    with pytest.raises(ValueError, match="add up to 80"):
        values.route_backends()


def test_route_backend_port_mismatch_is_refused(monkeypatch):
    platform = dict(values.chart_values("platform"))
    platform["route"] = {
        "backends": [
            {"environment": "production", "port": 9999, "weight": 90},
            {"environment": "canary", "port": 8081, "weight": 10},
        ]
    }
    real = values.chart_values
    monkeypatch.setattr(values, "chart_values", lambda c: platform if c == "platform" else real(c))
    with pytest.raises(ValueError, match="uses port 9999"):
        values.route_backends()


@pytest.mark.parametrize("given, n", [(7, 7), ("7", 7), (" 12 ", 12), (0, 0)])
def test_version_number_is_parsed_once(given, n):
    assert names.version_number(given) == n
    assert names.version_string(names.version_number(given)) == f"1.0.{n}"


@pytest.mark.parametrize("bad", ["-1", "1.0.3", "x", ""])
def test_version_number_refuses_what_is_not_a_version(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        names.version_number(bad)


def test_check_env_returns_the_env_or_names_the_choices():
    assert [names.check_env(env) for env in names.ENVIRONMENTS] == list(names.ENVIRONMENTS)
    assert names.check_env(names.PLATFORM, allow_platform=True) == names.PLATFORM
    for bad, kwargs in [("prod", {}), (names.PLATFORM, {}), ("", {"allow_platform": True})]:
        with pytest.raises(ValueError, match="unknown environment .*expected one of staging, canary, production"):
            names.check_env(bad, **kwargs)


def test_every_environment_carries_its_alias_and_the_aliases_keep_lifecycle_order():
    assert {env: names.env_alias(env) for env in names.ENVIRONMENTS} == {e: e for e in names.ENVIRONMENTS}
    assert names.ALIASES == ("development", "staging", "staging-approved", "canary", "production")
    with pytest.raises(ValueError, match="unknown environment"):
        names.env_alias("development")


def test_a_new_environment_needs_only_its_entry_in_environments():
    """names.py with `shadow` added to ENVIRONMENTS alone: its tags parse, it has an alias and a namespace
    (the tag pattern and the aliases are derived, not hand-written)."""
    import types
    from pathlib import Path

    text = Path(names.__file__).read_text()
    line = "ENVIRONMENTS = (STAGING, CANARY, PRODUCTION)"
    assert line in text
    shadowed = types.ModuleType("names_with_shadow")
    exec(compile(text.replace(line, line[:-1] + ', "shadow")'), "names_with_shadow", "exec"), shadowed.__dict__)
    assert shadowed.parse_image_tag("shadow-1.0.3") == ("shadow", 3)
    assert shadowed.image_tag("shadow", 3) == "shadow-1.0.3"
    assert shadowed.env_alias("shadow") == "shadow" and shadowed.ALIASES[-1] == "shadow"
    assert shadowed.namespace("shadow") == "gourmetgram-shadow"
    with pytest.raises(ValueError, match="expected <env>-1.0.<N>"):
        names.parse_image_tag("shadow-1.0.3")  # the real list is unchanged
