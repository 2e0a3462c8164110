"""yamllint (plain YAML, and the charts after rendering), hadolint, checkov and a credentials scan.
Each slow tool runs once per session; the tests assert per file on its parsed output."""

from __future__ import annotations

import re

import iac_tools as t
import pytest

FILES = t.repo_files()
PLAIN_YAML = [p for p in FILES if p.suffix in (".yml", ".yaml") and "/templates/" not in t.rel(p)]
DOCKERFILES = t.dockerfiles(FILES)


@pytest.fixture(scope="session")
def yamllint_findings() -> list[str]:
    return t.yamllint(PLAIN_YAML)


@pytest.mark.parametrize("path", PLAIN_YAML, ids=[t.rel(p) for p in PLAIN_YAML])
def test_yamllint(path, yamllint_findings):
    assert [f for f in yamllint_findings if f.startswith(f"{path}:")] == []


def test_yamllint_on_rendered_charts(rendered_dir):
    files = sorted(rendered_dir.rglob("*.yaml"))
    assert files
    assert t.yamllint(files, config=t.HERE / "yamllint-rendered.yaml") == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=[t.rel(p) for p in DOCKERFILES])
def test_hadolint(path):
    assert t.hadolint([path]) == []


def test_dockerfiles_found():
    # app/ and the training image are built from Dockerfiles in the repository.
    assert DOCKERFILES, "no Dockerfile in the repository"


@pytest.mark.parametrize("framework", ["terraform", "kubernetes", "argo_workflows", "secrets"])
def test_checkov_has_no_failed_checks(framework, checkov_results):
    failed = [f for f in checkov_results["failed"] if f[0] == framework]
    assert failed == []


@pytest.mark.parametrize("framework", ["terraform", "kubernetes", "argo_workflows"])
def test_checkov_checked_something(framework, checkov_results):
    assert checkov_results.get("passed_by_framework", {}).get(framework, 0) > 0


def test_no_credentials_or_private_keys_in_tracked_files():
    assert t.scan_secrets(FILES) == []


INLINE_SKIP = re.compile(r"(checkov\.io/skip\d*:|checkov:skip=|#\s*noqa\b|hadolint ignore=|yamllint disable)(.*)")


def test_every_inline_skip_carries_a_reason():
    """Skips in the infrastructure files say why, like the ones in the linter configs."""
    unexplained = []
    for path in FILES:
        if not t.rel(path).startswith(("ansible/", "k8s/", "workflows/", "tf/")) and path.name != "Dockerfile":
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m = INLINE_SKIP.search(line)
            if not m:
                continue
            if m.group(1).startswith("checkov"):
                explained = re.match(r"\s*CKV\w+\s*[=:]\s*\S.{10,}", m.group(2)) is not None
            else:
                explained = i > 0 and lines[i - 1].strip().startswith("#")
            if not explained:
                unexplained.append(f"{t.rel(path)}:{i + 1}: {line.strip()}")
    assert not unexplained
