"""The controller's Python 3.10 pin set installs on 3.10, offline, from its wheel folder.

No 3.10 interpreter exists on this machine, so pip resolves the set for a 3.10 target
(--python-version 3.10, wheels only) against the folder `./lab setup` downloaded, and
every wheel's own Requires-Python must admit 3.10 (pip's index data can disagree with a
wheel's metadata: stevedore 5.9.1 did). The main set is shown to fail the same check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from gourmetgram.controller import install, offline_assets

PY310 = (3, 10)


@pytest.fixture(scope="module")
def py310_wheels():
    folder = offline_assets.folder(PY310)
    if not (folder / ".complete").is_file():
        pytest.fail(f"no 3.10 wheel folder {folder}: run ./lab setup (it downloads it once)")
    return folder


def _resolve_for_310(wheels, requirements, constraints, tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
         "--find-links", str(wheels), "--python-version", "3.10", "--only-binary=:all:",
         "--target", str(tmp_path / "target"), "--report", str(report), "-q", "--disable-pip-version-check",
         "-r", str(requirements), "-c", str(constraints)],
        capture_output=True, text=True,
    )  # fmt: skip
    return proc, (json.loads(report.read_text()) if report.is_file() else None)


def test_python_3_10_gets_its_own_set_and_3_11_to_3_13_the_main_one():
    assert install.pin_files((3, 10)) == (install.REQUIREMENTS_PY310, install.CONSTRAINTS_PY310)
    for minor in (11, 12, 13):
        assert install.pin_files((3, minor)) == (install.REQUIREMENTS, install.CONSTRAINTS)
    assert install.python_supported((3, 10)) and not install.python_supported((3, 9))


def test_the_310_set_resolves_for_python_3_10_offline(py310_wheels, tmp_path):
    proc, report = _resolve_for_310(py310_wheels, install.REQUIREMENTS_PY310, install.CONSTRAINTS_PY310, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
    pinned = {
        canonicalize_name(name): version
        for name, version in (
            line.split("==") for line in install.CONSTRAINTS_PY310.read_text().splitlines() if "==" in line
        )
    }
    # Every installed package is pinned, at its pin; the set is what the constraints say.
    assert got == {name: pinned[name] for name in got}
    assert got["ansible-core"] == offline_assets.ansible_py310_pin().split("==")[1]
    for name in ("invoke", "python-openstackclient", "python-blazarclient", "pyyaml", "requests", "mlflow-skinny"):
        assert name in got


def test_every_wheel_of_the_310_set_admits_python_3_10(py310_wheels):
    refused = []
    for wheel in sorted(py310_wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            meta = Parser().parsestr(zf.read(meta_name).decode())
        spec = meta.get("Requires-Python")
        if spec and "3.10.0" not in SpecifierSet(spec):
            refused.append(f"{wheel.name}: Requires-Python {spec}")
    assert not refused, refused
    assert len(list(py310_wheels.glob("*.whl"))) >= 50


def test_the_main_set_does_not_resolve_for_python_3_10(py310_wheels, tmp_path):
    """The check above can fail: ansible-core 2.19 needs 3.11."""
    proc, _ = _resolve_for_310(py310_wheels, install.REQUIREMENTS, install.CONSTRAINTS, tmp_path)
    assert proc.returncode != 0
    assert "ansible-core" in proc.stderr
