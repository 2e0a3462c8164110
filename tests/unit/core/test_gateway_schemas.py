"""The Gateway API CRD pins: one list in versions.yml, fetched and verified, found by checksum."""

from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import sys
import threading

import pytest
import yaml

from gourmetgram import gateway_schemas as gw

CRD_TEMPLATE = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {name}.gateway.networking.k8s.io
spec:
  group: gateway.networking.k8s.io
  names: {{kind: {kind}}}
  versions: [{{name: v1, schema: {{openAPIV3Schema: {{type: object}}}}}}]
"""


def test_pins_are_the_five_standard_crds_each_with_a_sha256():
    version, pins = gw.load_pins()
    assert version == "v1.1.0"
    assert [p.crd for p in pins] == ["gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants"]
    for pin in pins:
        assert len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0
        # A raw file at the release's commit (immutable), named as upstream's kustomization lists it.
        assert pin.url.endswith(f"/config/crd/standard/gateway.networking.k8s.io_{pin.crd}.yaml")
        assert "/690f754646e8326128fd686e3e46117ac479cfdf/" in pin.url


@pytest.fixture
def upstream(tmp_path, monkeypatch):
    """A local HTTP server holding two small CRD files, and versions.yml pinning them."""
    served = tmp_path / "served"
    served.mkdir()
    downloads, names = {}, []
    for crd, kind in (("gateways", "Gateway"), ("httproutes", "HTTPRoute")):
        body = CRD_TEMPLATE.format(name=crd, kind=kind)
        (served / f"{crd}.yaml").write_text(body)
        names.append(f"gateway_api_crd_{crd}")
        sha256 = hashlib.sha256(body.encode()).hexdigest()
        downloads[names[-1]] = {"version": "v9.9.9", "url": f"{crd}.yaml", "sha256": sha256}
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    for d in downloads.values():
        d["url"] = base + d["url"]
    versions = tmp_path / "versions.yml"

    def write_versions():
        pins = {"gg_downloads": downloads, "gg_gateway_api_version": "v9.9.9", "gg_gateway_api_crds": names}
        versions.write_text(yaml.safe_dump(pins))

    write_versions()
    monkeypatch.setattr(gw, "VERSIONS_FILE", versions)
    monkeypatch.setattr(gw, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.delenv(gw.ENV, raising=False)
    yield type("Upstream", (), {"served": served, "downloads": downloads, "rewrite": staticmethod(write_versions)})
    server.shutdown()


def test_fetch_downloads_and_verifies_into_the_cache(upstream, tmp_path):
    assert gw.locate() == {}  # nothing yet: the checks would skip
    found = gw.fetch(log=lambda *_: None)
    assert sorted(found) == ["gateways", "httproutes"]
    cache = tmp_path / "cache" / "v9.9.9"
    assert sorted(p.name for p in cache.iterdir()) == ["gateways.yaml", "httproutes.yaml"]
    assert gw.locate() == {"gateways": cache / "gateways.yaml", "httproutes": cache / "httproutes.yaml"}


def test_fetch_refuses_a_wrong_checksum_and_leaves_nothing(upstream, tmp_path):
    (upstream.served / "httproutes.yaml").write_text(CRD_TEMPLATE.format(name="httproutes", kind="Tampered"))
    with pytest.raises(gw.SchemaError, match="is not the pinned"):
        gw.fetch(log=lambda *_: None)
    cache = tmp_path / "cache" / "v9.9.9"
    assert sorted(p.name for p in cache.iterdir()) == ["gateways.yaml"]  # the good one only, no temp file


def test_fetch_with_no_network_raises_oserror(upstream):
    for d in upstream.downloads.values():
        d["url"] = "http://127.0.0.1:9/nothing.yaml"  # discard port: connection refused
    upstream.rewrite()
    with pytest.raises(OSError):
        gw.fetch(timeout=2, log=lambda *_: None)


def test_env_folder_matches_files_by_checksum_whatever_their_names(upstream, tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "my-gateways-copy.yaml").write_bytes((upstream.served / "gateways.yaml").read_bytes())
    (folder / "README.yaml").write_text("not: a crd\n")
    monkeypatch.setenv(gw.ENV, str(folder))
    assert gw.locate() == {"gateways": folder / "my-gateways-copy.yaml"}


def test_env_folder_with_an_altered_crd_is_an_error_not_a_skip(upstream, tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "httproutes.yaml").write_text(CRD_TEMPLATE.format(name="httproutes", kind="HTTPRouteX"))
    monkeypatch.setenv(gw.ENV, str(folder))
    with pytest.raises(gw.SchemaError, match="matches none pinned"):
        gw.locate()


@pytest.mark.parametrize("setting", ["missing", "empty"])
def test_env_folder_that_holds_nothing_is_an_error(upstream, tmp_path, monkeypatch, setting):
    folder = tmp_path / "empty"
    if setting == "empty":
        folder.mkdir()
    monkeypatch.setenv(gw.ENV, str(folder))
    with pytest.raises(gw.SchemaError):
        gw.locate()


def test_cli_where_says_how_to_get_the_files_when_there_are_none(tmp_path):
    env = {"PATH": "/usr/bin:/bin", gw.ENV: ""}
    # A copy of the repository's pins with an empty cache: the CLI must say what to do, exit 2.
    code = (
        "import sys, pathlib; from gourmetgram import gateway_schemas as gw; "
        f"gw.CACHE_ROOT = pathlib.Path({str(tmp_path)!r}); sys.exit(gw.main(['where']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=gw.REPO_ROOT)
    assert result.returncode == 2
    assert "./lab setup" in result.stdout and gw.ENV in result.stdout
