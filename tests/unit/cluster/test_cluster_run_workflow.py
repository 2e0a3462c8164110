"""ansible/argocd/tasks/run_workflow.yml, run for real by ansible-playbook on localhost with a stub kubectl.

The wait must cover the workflow's own deadline (spec.activeDeadlineSeconds) instead of a
fixed 600 s, and a failure must say what the workflow reported and where its logs are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gourmetgram.paths import REPO_ROOT

TASKS = REPO_ROOT / "ansible/argocd/tasks/run_workflow.yml"
CLUSTER_VARS = REPO_ROOT / "ansible/vars/cluster.yml"
CREATED = "workflow.argoproj.io/build-initial-abc12"

STUB = """#!/bin/sh
# kubectl stand-in: create stores the manifest; the phase is Running twice, then $FINAL.
case "$*" in
  *" create "*|"create "*) cat > "$STUB_DIR/created.json"; echo "CREATED" ;;
  *"jsonpath={.status.phase}")
    n=$(cat "$STUB_DIR/polls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$STUB_DIR/polls"
    if [ "$n" -ge 3 ]; then printf %s "$FINAL"; else printf Running; fi ;;
  *) printf '%s 5/5 started 2026-12-03T08:00:00Z finished 2026-12-03T08:40:00Z step build failed' "$FINAL" ;;
esac
""".replace("CREATED", CREATED)


def run_workflow(tmp_path: Path, final: str) -> subprocess.CompletedProcess:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text(STUB)
    (bindir / "kubectl").chmod(0o755)
    playbook = [
        {
            "name": "run a one-off workflow",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(CLUSTER_VARS)],
            "tasks": [
                {
                    "ansible.builtin.include_tasks": str(TASKS),
                    "vars": {
                        "gg_repo_root": str(REPO_ROOT),
                        "gg_workflow_file": "build-initial-buildkit.yaml",
                        "gg_workflow_overrides": {"branch": "feature-x", "repo-url": "https://git.example.org/f.git"},
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "STUB_DIR": str(tmp_path),
        "FINAL": final,
        "ANSIBLE_HOME": str(tmp_path / ".ansible"),
        "ANSIBLE_NOCOLOR": "1",
    }
    venv_bin = Path(sys.executable).parent
    return subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", "gg_workflow_poll=1", str(tmp_path / "play.yml")],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def _deadline() -> int:
    return yaml.safe_load((REPO_ROOT / "workflows/build-initial-buildkit.yaml").read_text())["spec"][
        "activeDeadlineSeconds"
    ]


def test_the_wait_covers_the_workflows_deadline_and_reports_success(tmp_path):
    result = run_workflow(tmp_path, "Succeeded")
    assert result.returncode == 0, result.stdout + result.stderr
    # Ansible prints one RETRYING line per poll with the polls left: poll 1 s here, so polls = seconds.
    left = [int(n) for n in re.findall(r"\((\d+) retries left\)", result.stdout)]
    assert len(left) == 2
    assert left[0] + 1 >= _deadline(), "the wait ends before Argo's own deadline"
    assert f"{CREATED}: Succeeded 5/5" in result.stdout
    created = json.loads((tmp_path / "created.json").read_text())
    params = {p["name"]: p["value"] for p in created["spec"]["arguments"]["parameters"]}
    assert params == {"branch": "feature-x", "repo-url": "https://git.example.org/f.git"}


def test_a_failed_workflow_fails_the_play_with_its_message_and_logs(tmp_path):
    final = "Failed"
    result = run_workflow(tmp_path, final)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert f"{CREATED}: {final} 5/5" in out and "step build failed" in out
    assert "logs -l workflows.argoproj.io/workflow=build-initial-abc12" in out
    assert "run the same invoke task again" in out
