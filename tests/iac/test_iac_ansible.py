"""Ansible: --syntax-check of every playbook with the generated inventory, and ansible-lint --offline at
the production profile with zero violations (one run per session, asserted per file)."""

from __future__ import annotations

from pathlib import Path

import iac_tools as t
import pytest

from gourmetgram.cluster import inventory

PLAYBOOKS = t.playbooks()
IDS = [t.rel(p) for p in PLAYBOOKS]
ANSIBLE_YAML = sorted(
    p
    for p in t.repo_files()
    if t.rel(p).startswith("ansible/") and p.suffix in (".yml", ".yaml") and "/templates/" not in t.rel(p)
)
REFERENCE = [
    "general/hello_host.yml",
    "pre_k8s/pre_k8s_configure.yml",
    "post_k8s/post_k8s_configure.yml",
    "argocd/argocd_add_platform.yml",
    "argocd/argocd_add_staging.yml",
    "argocd/argocd_add_canary.yml",
    "argocd/argocd_add_prod.yml",
    "argocd/workflow_build_init.yml",
    "argocd/workflow_build_training_init.yml",
    "argocd/workflow_templates_apply.yml",
]


@pytest.fixture(scope="session")
def generated_inventory(tmp_path_factory) -> Path:
    """The inventory `invoke provision` writes, from the same code, for an example floating IP."""
    inv, _cfg = inventory.write_ansible_files("203.0.113.10", inventory.DEFAULT_NODES, tmp_path_factory.mktemp("ans"))
    return inv


@pytest.fixture(scope="session")
def syntax_failures(generated_inventory) -> dict[str, str]:
    return t.ansible_syntax(PLAYBOOKS, generated_inventory)


def test_every_reference_playbook_exists():
    missing = [p for p in REFERENCE if not (t.REPO / "ansible" / p).exists()]
    assert not missing


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=IDS)
def test_playbook_syntax_check(playbook, syntax_failures):
    assert t.rel(playbook) not in syntax_failures, syntax_failures.get(t.rel(playbook))


def test_syntax_check_ran_on_all_playbooks(syntax_failures):
    assert "(all)" not in syntax_failures, syntax_failures.get("(all)")
    assert len(PLAYBOOKS) >= len(REFERENCE)


def _line(location: dict):
    lines = location.get("lines") or {}
    return lines.get("begin") or (location.get("positions") or {}).get("begin", {}).get("line", "?")


def _lint_findings(report: list[dict], path: Path) -> list[str]:
    relp = t.rel(path)
    return [
        f"{f['location']['path']}:{_line(f['location'])}: {f['check_name']}: {f.get('description', '')}"
        for f in report
        if f["location"]["path"] == relp
    ]


@pytest.mark.parametrize("path", ANSIBLE_YAML, ids=[t.rel(p) for p in ANSIBLE_YAML])
def test_ansible_lint_production_profile(path, lint_report):
    assert _lint_findings(lint_report, path) == []


def test_ansible_lint_has_no_findings_at_all(lint_report):
    assert [f"{f['location']['path']}: {f['check_name']}" for f in lint_report] == []
