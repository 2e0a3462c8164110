"""Local platform mechanics without processes: lock, atomic state, bundle manifests, Traefik routes."""

from __future__ import annotations

import stat

import pytest
import yaml

from gourmetgram import names, values
from gourmetgram.local import bundles, traefik
from gourmetgram.local.state import Current, LockBusy, PlatformLock, Ports, State


def test_second_lock_holder_gets_a_clear_message(tmp_path):
    state = State(tmp_path)
    with PlatformLock(state, "local.train"):
        with pytest.raises(LockBusy) as err:
            with PlatformLock(state, "local.promote"):
                pass
    assert "'local.train'" in str(err.value) and "local.promote" in str(err.value)
    with PlatformLock(state, "local.promote"):  # released after the first holder ends
        pass


def test_deployments_round_trip_with_history(tmp_path):
    state = State(tmp_path)
    dep = state.deployments()
    dep.record(names.CANARY, Current(1, "canary-1.0.1", 1234, "app-canary-1-1234"))
    dep.record(names.CANARY, Current(2, "canary-1.0.2", 1235, "app-canary-2-1235"))
    state.save_deployments(dep)
    again = State(tmp_path).deployments()
    assert again.current[names.CANARY].version == 2
    assert [d.version for d in again.history[names.CANARY]] == [1, 2]


def test_default_ports_come_from_the_helm_values():
    ports = Ports.defaults()
    assert ports.env(names.PRODUCTION) == values.env_port(names.PRODUCTION)
    assert ports.gateway == values.gateway_port() and ports.mlflow == values.mlflow_port()
    assert Ports.defaults(100).env(names.STAGING) == values.env_port(names.STAGING) + 100


def test_routes_split_with_the_helm_weights():
    config = traefik.dynamic_config({names.PRODUCTION: 5001, names.CANARY: 5002, names.STAGING: 5003})
    weighted = config["http"]["services"]["gateway"]["weighted"]["services"]
    assert {s["name"]: s["weight"] for s in weighted} == values.route_weights()
    assert config["http"]["services"]["canary"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:5002"}]
    assert config["http"]["routers"]["staging"]["entryPoints"] == [names.STAGING]


def test_routes_leave_out_undeployed_environments():
    config = traefik.dynamic_config({names.CANARY: 5002})
    assert set(config["http"]["routers"]) == {names.CANARY, "gateway"}
    assert config["http"]["services"]["gateway"]["weighted"]["services"] == [
        {"name": names.CANARY, "weight": values.route_weights()[names.CANARY]}
    ]
    assert "routers" not in traefik.dynamic_config({})["http"]


def test_static_config_never_phones_home(tmp_path):
    config = traefik.static_config("127.0.0.1", Ports.pick(iter(range(1, 100)).__next__), tmp_path)
    assert config["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert all(ep["address"].startswith("127.0.0.1:") for ep in config["entryPoints"].values())
    yaml.safe_dump(config)


def _bundle(root):
    root.mkdir()
    (root / "model").mkdir()
    (root / "model" / "model.onnx").write_bytes(b"\x08\x01" * 1000)
    (root / "versions.txt").write_text("1.0.3\n")
    bundles.write_manifest(root)
    return root


def test_manifest_accepts_an_intact_bundle(tmp_path):
    assert bundles.verify(_bundle(tmp_path / "b")).startswith("sha256:")


def test_manifest_refuses_a_truncated_file(tmp_path):
    root = _bundle(tmp_path / "b")
    (root / "model" / "model.onnx").write_bytes(b"\x08\x01" * 10)
    with pytest.raises(bundles.BundleError, match="model/model.onnx has 20 bytes"):
        bundles.verify(root)


def test_manifest_refuses_altered_content_of_the_same_size(tmp_path):
    root = _bundle(tmp_path / "b")
    (root / "versions.txt").write_text("1.0.4\n")
    with pytest.raises(bundles.BundleError, match="versions.txt does not match its sha256"):
        bundles.verify(root)


def test_manifest_refuses_missing_and_extra_files(tmp_path):
    root = _bundle(tmp_path / "b")
    (root / "versions.txt").unlink()
    with pytest.raises(bundles.BundleError, match="versions.txt is missing"):
        bundles.verify(root)
    root2 = _bundle(tmp_path / "c")
    (root2 / "model" / "evil.py").write_text("")
    with pytest.raises(bundles.BundleError, match="unexpected files"):
        bundles.verify(root2)


def test_copy_tag_is_an_identical_read_only_bundle(tmp_path):
    reg = bundles.BundleRegistry(tmp_path / "registry")
    reg.root.mkdir()
    src = _bundle(reg.root / names.image_tag(names.STAGING, 3))
    tag = reg.copy_tag(names.STAGING, names.CANARY, 3)
    assert tag == "canary-1.0.3"
    dest = reg.path(names.CANARY, 3)
    assert bundles.verify(dest) == bundles.verify(src)
    assert not dest.stat().st_mode & stat.S_IWUSR
    with pytest.raises(bundles.BundleError, match="no bundle staging-1.0.4"):
        reg.copy_tag(names.STAGING, names.CANARY, 4)


def test_up_refuses_a_taken_port_before_starting_anything(tmp_path):
    import socket

    from gourmetgram.local.platform import LocalPlatform
    from gourmetgram.local.state import PlatformError
    from gourmetgram.proc_helpers import free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        p = LocalPlatform(tmp_path, say=lambda line: None)
        ports = Ports.pick(free_port)
        ports.environments[names.STAGING] = busy
        p.configure(ports=ports)
        with pytest.raises(PlatformError, match=f"staging {busy}"):
            p.up()
    assert not p.supervisor.running()
    assert not (tmp_path / "supervisor" / "supervisord.pid").exists()


def test_settings_are_fixed_per_state_dir(tmp_path):
    from gourmetgram.local.platform import LocalPlatform
    from gourmetgram.local.state import PlatformError

    p = LocalPlatform(tmp_path, say=lambda line: None)
    p.configure(ports=Ports.defaults(1000))
    assert p.configure().ports == Ports.defaults(1000)
    with pytest.raises(PlatformError, match="was set up with backend=sqlite"):
        p.configure(backend="postgres")
    with pytest.raises(PlatformError, match="backend must be one of"):
        LocalPlatform(tmp_path / "other", say=lambda line: None).configure(backend="mysql")


def test_platform_json_keeps_flat_ports_so_older_state_dirs_read_unchanged(tmp_path):
    import json

    from gourmetgram.local.state import PlatformError

    # A platform.json written before Ports mapped environment -> port (and before Prometheus).
    old_ports = {"staging": 18082, "canary": 18081, "production": 18080, "gateway": 1080, "mlflow": 18000}
    old = {"host": "127.0.0.1", "ports": {**old_ports, "traefik_api": 18089}, "backend": "sqlite"}
    (tmp_path / "platform.json").write_text(json.dumps(old))
    settings = State(tmp_path).settings()
    assert {env: settings.ports.env(env) for env in names.ENVIRONMENTS} == {
        env: old_ports[env] for env in names.ENVIRONMENTS
    }
    assert settings.ports.prometheus == 0
    State(tmp_path).save_settings(settings)
    saved = json.loads((tmp_path / "platform.json").read_text())["ports"]
    assert saved == {**old["ports"], "prometheus": 0, "alertmanager": 0, "retrain_hook": 0}
    # A state dir that lacks an environment's port says so, instead of a KeyError.
    del old["ports"]["canary"]
    (tmp_path / "platform.json").write_text(json.dumps(old))
    with pytest.raises(PlatformError, match="none for canary"):
        State(tmp_path).settings()
