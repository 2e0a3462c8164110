"""The local gateway is an interface (gourmetgram/local/gateway.py) with Traefik behind it.

The platform and its Target use only the interface's members, and only gateway.py names
Traefik: a second gateway is one module implementing Gateway plus one line in
gateway.for_settings. The platform is also driven with a stand-in gateway that has nothing
but the interface.
"""

from __future__ import annotations

import ast

import pytest

from gourmetgram import values
from gourmetgram.local import gateway
from gourmetgram.local.gateway import Gateway
from gourmetgram.local.platform import LocalPlatform
from gourmetgram.local.state import Ports, State
from gourmetgram.local.traefik import Traefik
from gourmetgram.paths import REPO_ROOT

INTERFACE = {n for n in dir(Gateway) if not n.startswith("_")} | set(Gateway.__annotations__)
USERS = ("gourmetgram/local/platform.py", "gourmetgram/local/target.py")


def test_the_interface_is_the_operations_and_traefik_implements_it(tmp_path):
    assert INTERFACE == {
        "program_name",
        "dashboard_url",
        "program",
        "wait_ready",
        "write_routes",
        "switch",
        "weights",
        "set_weights",
    }
    traefik = Traefik(tmp_path, "127.0.0.1", Ports.defaults())
    assert isinstance(traefik, Gateway)
    assert all(callable(getattr(traefik, n)) for n in INTERFACE - {"program_name", "dashboard_url"})


def _gateway_uses(path) -> set[str]:
    """Attributes read on a gateway in a module: self.gateway.X, self._gateway().X, and X of a name bound to either."""
    tree = ast.parse((REPO_ROOT / path).read_text())

    def is_gateway(node) -> bool:
        if isinstance(node, ast.Attribute) and node.attr == "gateway":
            return isinstance(node.value, ast.Name) and node.value.id == "self"
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_gateway"

    aliases = {
        t.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and is_gateway(node.value)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (is_gateway(node.value) or (isinstance(node.value, ast.Name) and node.value.id in aliases))
    }


@pytest.mark.parametrize("path", USERS)
def test_the_platform_uses_only_the_interface(path):
    used = _gateway_uses(path)
    assert used, f"{path} no longer reaches the gateway as self.gateway / self._gateway(): update this test"
    assert used <= INTERFACE, f"{path} uses {sorted(used - INTERFACE)} beyond the Gateway interface"


def test_only_gateway_py_names_the_implementation():
    importers = []
    for path in sorted((REPO_ROOT / "gourmetgram").rglob("*.py")):
        if path.name == "traefik.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            module = getattr(node, "module", None) if isinstance(node, ast.ImportFrom) else None
            names_ = [a.name for a in node.names] if isinstance(node, ast.Import | ast.ImportFrom) else []
            if module == "gourmetgram.local.traefik" or "gourmetgram.local.traefik" in names_:
                importers.append(path.relative_to(REPO_ROOT).as_posix())
            if module == "gourmetgram.local" and "traefik" in names_:
                importers.append(path.relative_to(REPO_ROOT).as_posix())
    assert importers == ["gourmetgram/local/gateway.py"]


class InterfaceOnly:
    """A gateway with exactly the interface; anything else the platform asks for fails the test."""

    program_name = "stand-in"
    dashboard_url = "http://127.0.0.1:1/dashboard/"

    def __init__(self):
        self.calls: list[tuple] = []
        self.split = values.route_weights()

    def program(self, env):
        raise AssertionError("not started in this test")

    def wait_ready(self, timeout=30.0):
        self.calls.append(("wait_ready",))

    def write_routes(self, backends):
        self.calls.append(("write_routes", dict(backends)))

    def switch(self, backends):
        self.calls.append(("switch", dict(backends)))

    def weights(self):
        return dict(self.split)

    def set_weights(self, weights, backends):
        self.calls.append(("set_weights", dict(weights), dict(backends)))
        self.split = dict(weights)


def test_the_platform_runs_on_any_gateway_with_the_interface(tmp_path, monkeypatch):
    stand_in = InterfaceOnly()
    assert isinstance(stand_in, Gateway)
    chosen = []

    def for_settings(state: State, settings):
        chosen.append(state.root)
        return stand_in

    monkeypatch.setattr(gateway, "for_settings", for_settings)
    p = LocalPlatform(tmp_path, say=lambda line: None)
    p.configure(ports=Ports.defaults(40000 - 8080))
    split = {"production": 75, "canary": 25}
    p.set_gateway_weights(split)
    assert p.gateway_weights() == split and stand_in.calls == [("set_weights", split, {})]
    status = p.status()  # the platform is not running: nothing but the interface is asked
    assert status["traefik_url"] == InterfaceOnly.dashboard_url and status["gateway"]["weights"] == split
    assert chosen and set(chosen) == {p.state.root}
