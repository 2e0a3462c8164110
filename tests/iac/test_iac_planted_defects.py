"""Each check catches a planted defect: a broken COPY of a real file (in tmp_path) goes through
the same check function the real-file tests use, and the defect must be reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import iac_tools as t
import pytest

TF = t.REPO / "tf" / "kvm"


@pytest.fixture
def tf_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "kvm"
    shutil.copytree(TF, dst, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "clouds.yaml"))
    return dst


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{t.rel(path)} no longer contains {old!r}: update the planted defect"
    path.write_text(text.replace(old, new, 1))


# ---- terraform


def test_unformatted_tf_file_is_caught(tf_copy):
    assert t.terraform_fmt(tf_copy) == []
    (tf_copy / "extra.tf").write_text('locals {\nbadly_indented   =    "x"\n}\n')
    findings = t.terraform_fmt(tf_copy)
    assert len(findings) == 1 and "extra.tf" in findings[0]


def test_missing_security_group_port_is_caught(tf_copy):
    exposed = {80, 8000, 8080, 8081, 8082, 9001}
    assert t.secgroup_findings(tf_copy, exposed) == []
    _replace(tf_copy / "data.tf", '"allow-8081",', "")
    findings = t.secgroup_findings(tf_copy, exposed)
    assert findings and all("8081" in f for f in findings)


def test_undeclared_and_unused_variables_are_caught(tf_copy):
    _replace(tf_copy / "main.tf", "var.reservation", "var.reservaton")
    findings = t.terraform_variable_findings(tf_copy)
    assert any("var.reservaton is used but not declared" in f for f in findings)
    assert any("'reservation' is declared but never used" in f for f in findings)


def test_floating_ip_on_the_wrong_node_is_caught(tf_copy):
    assert t.terraform_structure_findings(tf_copy) == []
    _replace(tf_copy / "main.tf", 'sharednet1_ports["node1"]', 'sharednet1_ports["node2"]')
    assert any("floating IP" in f for f in t.terraform_structure_findings(tf_copy))
