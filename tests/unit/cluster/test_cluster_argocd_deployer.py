"""The workflows' own Argo CD account (issue 11, item 9): ansible/argocd/tasks/argocd_deployer.yml run for
real by ansible-playbook on localhost, with stand-ins for kubectl and the argocd CLI that record each call.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT

TASKS = REPO_ROOT / "ansible/argocd/tasks/argocd_deployer.yml"
CLUSTER_VARS = yaml.safe_load((REPO_ROOT / "ansible/vars/cluster.yml").read_text())
GENERATED = "stub-value-4711"

KUBECTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_DIR/kubectl.log"
case "$*" in
  *"get configmap"*) echo '{"data": {}}' ;;
  *"get secret"*) [ -n "$SECRET_EXISTS" ] && printf 'argocd-deployer-token,%s,%s' "$TOKEN_ID" "$TOKEN_EXPIRES" ; true ;;
  *" patch configmap "*) shift $(($# - 1)); printf '%s\\n' "$1" >> "$STUB_DIR/patches.jsonl" ;;
  "create -f -"|"replace -f -") cat > "$STUB_DIR/secret.json" ;;
  *delete*) echo 'secret "argocd-initial-admin-secret" deleted' ;;
esac
"""
ARGOCD = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_DIR/argocd.log"
echo "GENERATED"
""".replace("GENERATED", GENERATED)


def run_deployer(
    tmp_path: Path, secret_exists: bool = False, token_id: str = "", expires: str = ""
) -> subprocess.CompletedProcess:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, text in (("kubectl", KUBECTL), ("argocd", ARGOCD)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    playbook = [
        {
            "name": "deployer account",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(REPO_ROOT / "ansible/vars/cluster.yml")],
            "vars": {"gg_argocd_flags": ["--grpc-web"]},
            "tasks": [{"ansible.builtin.include_tasks": str(TASKS)}],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(playbook))
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "STUB_DIR": str(tmp_path),
        "SECRET_EXISTS": "1" if secret_exists else "",
        "TOKEN_ID": token_id,
        "TOKEN_EXPIRES": expires,
        "ANSIBLE_HOME": str(tmp_path / ".ansible"),
        "ANSIBLE_NOCOLOR": "1",
    }
    venv_bin = Path(sys.executable).parent
    return subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         str(tmp_path / "play.yml")],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def _policy_lines(policy: str) -> list[tuple[str, ...]]:
    return [tuple(x.strip() for x in line.split(",")) for line in policy.splitlines() if line.strip()]


def test_the_account_may_only_get_update_and_sync_the_environment_apps_and_the_platform_app(tmp_path):
    result = run_deployer(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    account = CLUSTER_VARS["gg_argocd_deployer_account"]
    patches = [json.loads(line) for line in (tmp_path / "patches.jsonl").read_text().splitlines()]
    assert patches[0] == {"data": {f"accounts.{account}": "apiKey"}}  # API key, no UI login
    (policy,) = patches[1]["data"].values()
    assert list(patches[1]["data"]) == ["policy.gourmetgram.csv"]  # beside policy.csv, not replacing it
    lines = _policy_lines(policy)
    role = f"role:{account}"
    # The platform app too: its Helm parameters are the canary split analyze-canary moves.
    apps = [*(names.app_name(env) for env in names.ENVIRONMENTS), names.app_name(names.PLATFORM)]
    assert ("g", account, role) in lines
    grants = {(action, obj, effect) for kind, subject, resource, action, obj, effect in
              [x for x in lines if x[0] == "p"] if subject == role and resource == "applications"}  # fmt: skip
    assert grants == {
        *((action, f"default/{app}", "allow") for app in apps for action in ("get", "update", "sync")),
        *(("update/*", f"default/{app}", "deny") for app in apps),
    }
    assert len(lines) == len(grants) + 1  # nothing else: no wildcard, no other app or resource


def test_the_token_is_generated_once_stored_for_the_workflows_and_never_printed(tmp_path):
    before = int(time.time())
    result = run_deployer(tmp_path)
    after = int(time.time())
    assert result.returncode == 0, result.stdout + result.stderr
    account = CLUSTER_VARS["gg_argocd_deployer_account"]
    hours = CLUSTER_VARS["gg_argocd_deployer_token_hours"]
    (call,) = (tmp_path / "argocd.log").read_text().splitlines()
    issued = int(re.fullmatch(rf"account generate-token --account {account} --expires-in {hours}h "
                              r"--id gg-deployer-(\d+) --grpc-web", call).group(1))  # fmt: skip
    assert before <= issued <= after
    assert "create -f -" in (tmp_path / "kubectl.log").read_text()
    secret = json.loads((tmp_path / "secret.json").read_text())
    assert secret["metadata"] == {
        "name": CLUSTER_VARS["gg_argocd_deployer_login"],
        "namespace": "argo",
        # The expiry the token carries, recorded for the renewal (epoch seconds, UTC).
        "annotations": {"gourmetgram/token-id": f"gg-deployer-{issued}",
                        "gourmetgram/token-expires-at": str(issued + hours * 3600)},
    }  # fmt: skip
    assert secret["stringData"] == {"token": GENERATED}
    assert GENERATED not in result.stdout + result.stderr
    # The admin password copy of older setups goes away.
    assert (
        "-n argo delete secret argocd-initial-admin-secret --ignore-not-found" in (tmp_path / "kubectl.log").read_text()
    )

    again = tmp_path / "again"
    again.mkdir()
    rerun = run_deployer(
        again, secret_exists=True, token_id=f"gg-deployer-{issued}", expires=str(issued + hours * 3600)
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert not (again / "argocd.log").exists() and not (again / "secret.json").exists()


def test_a_token_close_to_its_expiry_is_replaced_and_revoked(tmp_path):
    account = CLUSTER_VARS["gg_argocd_deployer_account"]
    renew = CLUSTER_VARS["gg_argocd_deployer_token_renew_hours"] * 3600
    soon = str(int(time.time()) + renew - 3600)  # inside the renewal window
    result = run_deployer(tmp_path, secret_exists=True, token_id="gg-deployer-1700000000", expires=soon)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "argocd.log").read_text().splitlines()
    assert calls[0].startswith(f"account generate-token --account {account} --expires-in ")
    assert calls[1] == f"account delete-token --account {account} gg-deployer-1700000000 --grpc-web"
    assert "replace -f -" in (tmp_path / "kubectl.log").read_text()  # not apply: no last-applied copy
    assert json.loads((tmp_path / "secret.json").read_text())["stringData"] == {"token": GENERATED}
    assert GENERATED not in result.stdout + result.stderr


def test_a_token_without_a_recorded_expiry_is_replaced(tmp_path):
    # An older setup's token never expires and has no recorded id: replaced; its revocation is documented.
    result = run_deployer(tmp_path, secret_exists=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = (tmp_path / "argocd.log").read_text().splitlines()
    assert call.startswith("account generate-token") and "--expires-in" in call
    assert "replace -f -" in (tmp_path / "kubectl.log").read_text()


def test_the_deployer_apps_are_the_environment_apps_and_the_platform_app():
    assert CLUSTER_VARS["gg_argocd_deployer_apps"] == [names.app_name(env) for env in names.ENVIRONMENTS]
    assert CLUSTER_VARS["gg_argocd_deployer_platform_app"] == names.app_name(names.PLATFORM)


def test_the_deploy_workflow_uses_the_token_not_the_admin_password():
    text = (REPO_ROOT / "workflows/deploy-container-image.yaml").read_text()
    doc = yaml.safe_load(text)
    (template,) = [t for t in doc["spec"]["templates"] if t["name"] == "argocd-sync"]
    (volume,) = template["volumes"]
    assert volume["secret"]["secretName"] == CLUSTER_VARS["gg_argocd_deployer_login"]
    assert "ARGOCD_AUTH_TOKEN" in template["script"]["source"]
    for path in sorted((REPO_ROOT / "workflows").glob("*.yaml")):
        body = path.read_text()
        assert "argocd-initial-admin-secret" not in body and "--username admin" not in body, path.name


def test_the_canary_workflow_moves_the_weights_with_the_token_too():
    from gourmetgram.canary.__main__ import DEFAULT_TOKEN_FILE

    doc = yaml.safe_load((REPO_ROOT / "workflows/analyze-canary.yaml").read_text())
    movers = [
        t for t in doc["spec"]["templates"] if "gourmetgram.canary" in (t.get("container") or {}).get("command", [])
    ]
    assert {t["name"] for t in movers} == {"analyze", "set-default-weights"}
    for template in movers:
        (volume,) = template["volumes"]
        assert volume["secret"] == {
            "secretName": CLUSTER_VARS["gg_argocd_deployer_login"],
            "items": [{"key": "token", "path": "token"}],
        }, template["name"]
        (mount,) = template["container"]["volumeMounts"]
        assert mount["name"] == volume["name"] and mount["readOnly"] is True
        # The CLI's default --token-file is where the Secret is mounted (or the args name it).
        args = template["container"]["args"]
        token_file = args[args.index("--token-file") + 1] if "--token-file" in args else DEFAULT_TOKEN_FILE
        assert token_file == f"{mount['mountPath']}/token", template["name"]
