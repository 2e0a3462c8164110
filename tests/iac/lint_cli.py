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
    import helm_python as helm

    helm.disable_logging()
    with tempfile.TemporaryDirectory() as tmp:
        for chart in [c for c in t.charts() if (c / "values.yaml").exists()]:
            for name, text in t.rendered_text(chart, v.deploy_values(chart), v.chart_namespace(chart)).items():
                if name.endswith((".yaml", ".yml")) and text.strip():
                    dst = Path(tmp) / chart.name / name.split("/", 1)[1].replace("/", "_")
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_text(text)
        files = [p for p in t.repo_files() if p.stat().st_size < 1_000_000]
        dirs = {"terraform": t.REPO / "tf" / "kvm", "kubernetes": Path(tmp), "argo_workflows": t.REPO / "workflows"}
        result = t.checkov(dirs, files=files)
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
