"""The controller's Terraform download: a release zip from a file:// mirror, checked against SHA256SUMS."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from gourmetgram.controller import terraform

VERSION = "9.9.9"  # not the pinned version: the pinned sha256 does not apply to it
PLAT = "linux_amd64"
FAKE_TERRAFORM = '#!/bin/sh\necho \'{"terraform_version": "9.9.9", "platform": "linux_amd64"}\'\n'


def _zip_bytes(script: str = FAKE_TERRAFORM) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("terraform", script)
        zf.writestr("LICENSE.txt", "test release\n")
    return buf.getvalue()


def _mirror(root: Path, sums: str | None, zip_data: bytes | None = None) -> str:
    """A releases folder <root>/<version>/ as HashiCorp lays it out; returns its file:// base URL."""
    release = root / VERSION
    release.mkdir(parents=True)
    data = _zip_bytes() if zip_data is None else zip_data
    (release / f"terraform_{VERSION}_{PLAT}.zip").write_bytes(data)
    if sums is not None:
        (release / f"terraform_{VERSION}_SHA256SUMS").write_text(sums)
    return root.as_uri()


def _sums_line(data: bytes, name: str = f"terraform_{VERSION}_{PLAT}.zip") -> str:
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


def _install(base: str, bin_dir: Path, lines: list[str], pinned=None) -> Path:
    return terraform.install(bin_dir, version=VERSION, base_url=base, pinned=pinned, plat=PLAT, say=lines.append)


def test_right_sha256sums_installs_an_executable_terraform(tmp_path):
    data = _zip_bytes()
    other = "0" * 64 + f"  terraform_{VERSION}_darwin_arm64.zip\n"
    base = _mirror(tmp_path / "mirror", other + _sums_line(data))
    lines: list[str] = []
    binary = _install(base, tmp_path / "bin", lines)
    assert binary == tmp_path / "bin" / "terraform"
    assert binary.stat().st_mode & 0o111
    assert terraform.installed_version(binary) == VERSION
    assert any("matches SHA256SUMS" in line for line in lines)
    assert any("100%" in line for line in lines)  # progress lines
    # Nothing but the binary is left in the bin folder.
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["terraform"]
    # A second run sees the version and downloads nothing.
    lines.clear()
    _install(base, tmp_path / "bin", lines)
    assert lines == [f"terraform {VERSION} already in {tmp_path / 'bin'}"]


def test_wrong_sha256_installs_nothing(tmp_path):
    base = _mirror(tmp_path / "mirror", _sums_line(b"some other zip"))
    with pytest.raises(terraform.TerraformInstallError, match="sha256 mismatch"):
        _install(base, tmp_path / "bin", [])
    assert not (tmp_path / "bin" / "terraform").exists()
    assert list((tmp_path / "bin").iterdir()) == []  # no temporary files left


def test_missing_sha256sums_file_refuses(tmp_path):
    base = _mirror(tmp_path / "mirror", None)
    with pytest.raises(terraform.TerraformInstallError, match="could not download .*SHA256SUMS"):
        _install(base, tmp_path / "bin", [])
    assert not (tmp_path / "bin" / "terraform").exists()


def test_sha256sums_without_our_platform_refuses(tmp_path):
    data = _zip_bytes()
    base = _mirror(tmp_path / "mirror", _sums_line(data, f"terraform_{VERSION}_linux_arm64.zip"))
    with pytest.raises(terraform.TerraformInstallError, match="no valid line"):
        _install(base, tmp_path / "bin", [])


def test_sha256sums_that_disagrees_with_the_pin_refuses(tmp_path):
    data = _zip_bytes()
    base = _mirror(tmp_path / "mirror", _sums_line(data))
    with pytest.raises(terraform.TerraformInstallError, match="pinned sha256"):
        _install(base, tmp_path / "bin", [], pinned={PLAT: "f" * 64})
    # The pin that agrees passes.
    assert _install(base, tmp_path / "bin", [], pinned={PLAT: hashlib.sha256(data).hexdigest()}).is_file()


def test_a_zip_without_terraform_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README", "no binary")
    data = buf.getvalue()
    base = _mirror(tmp_path / "mirror", _sums_line(data), zip_data=data)
    with pytest.raises(terraform.TerraformInstallError, match="not a Terraform release zip"):
        _install(base, tmp_path / "bin", [])


def test_release_urls_and_pin_are_the_vendors():
    zip_url, sums_url = terraform.release_urls(terraform.TERRAFORM_VERSION, "linux_amd64")
    v = terraform.TERRAFORM_VERSION
    assert zip_url == f"https://releases.hashicorp.com/terraform/{v}/terraform_{v}_linux_amd64.zip"
    assert sums_url == f"https://releases.hashicorp.com/terraform/{v}/terraform_{v}_SHA256SUMS"
    assert len(terraform.PINNED_SHA256["linux_amd64"]) == 64
    assert terraform.platform_tag("x86_64") == "linux_amd64"
    assert terraform.platform_tag("aarch64") == "linux_arm64"
    with pytest.raises(terraform.TerraformInstallError):
        terraform.platform_tag("sparc")
