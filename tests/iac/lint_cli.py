"""The infrastructure linters that need more than one command, for `nox -s lint`.

    python tests/iac/lint_cli.py hadolint   every Dockerfile in the repository
    python tests/iac/lint_cli.py checkov    terraform, the rendered charts, argo_workflows, secrets

Prints the findings and exits 1 if there are any (tests/iac runs the same checks per file).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import iac_tools as t
import iac_values as v


def hadolint() -> list[str]:
    files = t.dockerfiles(t.repo_files())
    print(f"hadolint: {len(files)} Dockerfile(s)")
    return t.hadolint(files)


def checkov() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        result = v.checkov_repo(v.write_rendered(Path(tmp)))
    print(f"checkov: {result['passed']} passed checks over {len(result['files'])} file(s)")
    return [f"{fw}: {check} {path} {resource}" for fw, check, path, resource in result["failed"]]


def main(argv: list[str]) -> int:
    tools = {"hadolint": hadolint, "checkov": checkov}
    if len(argv) != 1 or argv[0] not in tools:
        print(__doc__, file=sys.stderr)
        return 2
    findings = tools[argv[0]]()
    for finding in findings:
        print(finding)
    print(f"{argv[0]}: {len(findings)} finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
