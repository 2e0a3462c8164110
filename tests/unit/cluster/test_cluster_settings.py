"""Settings of the cluster path: file + environment, and clear errors for bad values."""

from __future__ import annotations

import pytest

from gourmetgram.cluster.settings import (
    EXAMPLE_SETTINGS_FILE,
    Settings,
    SettingsError,
    load_settings,
    parse_settings_file,
)


def test_example_settings_are_complete_and_valid(settings):
    settings.require("suffix", "key", "reservation", "floating_ip", "project", "repo_url", "repo_revision")
    assert settings.suffix == "abc123"
    assert settings.floating_ip == "203.0.113.10"


def test_environment_overrides_the_settings_file(example_env):
    example_env["GG_SUFFIX"] = "xyz789"
    assert load_settings(example_env).suffix == "xyz789"


def test_missing_suffix_names_the_variable_and_where_to_set_it(tmp_path):
    s = load_settings({"GG_SETTINGS_FILE": str(_write(tmp_path, "GG_KEY=mykey\n"))})
    with pytest.raises(SettingsError, match=r"missing setting GG_SUFFIX .*settings\.env"):
        s.require("suffix")


def test_empty_value_counts_as_missing(tmp_path):
    s = load_settings({"GG_SETTINGS_FILE": str(_write(tmp_path, "GG_SUFFIX=\n"))})
    with pytest.raises(SettingsError, match="missing setting GG_SUFFIX"):
        s.require("suffix")


@pytest.mark.parametrize("bad", ["abc", "4f6d1c2a-8b3e-4c5d-9e7f", "4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5fz", "m1.large"])
def test_reservation_must_be_a_uuid(bad):
    with pytest.raises(SettingsError, match="bad GG_RESERVATION .*UUID"):
        Settings(reservation=bad).require("reservation")


def test_reservation_rejects_the_lab_placeholder():
    with pytest.raises(SettingsError, match="placeholder"):
        Settings(reservation="00000000-0000-0000-0000-000000000000").require("reservation")


@pytest.mark.parametrize("bad", ["my id", "-abc", "abc/def", "ab.c"])
def test_suffix_must_be_usable_in_resource_names(bad):
    with pytest.raises(SettingsError, match="bad GG_SUFFIX"):
        Settings(suffix=bad).require("suffix")


def test_floating_ip_must_be_ipv4():
    with pytest.raises(SettingsError, match="bad GG_FLOATING_IP"):
        Settings(floating_ip="A.B.C.D").require("floating_ip")


def test_no_clouds_yaml_is_a_clear_error(tmp_path):
    s = Settings(clouds_yaml=str(tmp_path / "clouds.yaml"))
    with pytest.raises(SettingsError, match=r"no clouds\.yaml at .*clouds\.yaml\.example"):
        s.require_clouds_yaml()
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    assert s.require_clouds_yaml() == tmp_path / "clouds.yaml"


def test_settings_file_syntax(tmp_path):
    path = _write(tmp_path, "# comment\n\nexport GG_SUFFIX='ab1'\nGG_KEY = \"k\"\n")
    assert parse_settings_file(path) == {"GG_SUFFIX": "ab1", "GG_KEY": "k"}
    with pytest.raises(SettingsError, match=r":2: expected KEY=VALUE"):
        parse_settings_file(_write(tmp_path, "GG_SUFFIX=a\nnot a setting\n"))


def test_unknown_setting_in_file_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="unknown setting.*GG_SUFIX"):
        load_settings({"GG_SETTINGS_FILE": str(_write(tmp_path, "GG_SUFIX=typo\n"))})


def test_named_settings_file_must_exist(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings({"GG_SETTINGS_FILE": str(tmp_path / "nope.env")})


def test_example_file_lists_every_setting():
    from gourmetgram.cluster.settings import ENV_NAMES

    assert set(parse_settings_file(EXAMPLE_SETTINGS_FILE)) == set(ENV_NAMES.values())


def _write(tmp_path, text):
    path = tmp_path / "settings.env"
    path.write_text(text)
    return path
