"""MLflow on the cluster requires a login and accepts only known Host headers (issue 11, item 10).

The checks use MLflow's own code where it decides: its Host matcher (security_utils) on the
rendered --allowed-hosts, and its auth config reader on the file the start script writes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import yaml
from mlflow.server.security_utils import is_allowed_host_header

from gourmetgram import names, values

FLOATING_IP = "129.114.27.10"
PLATFORM_VALUES = values.chart_values(names.PLATFORM)


def _mlflow_container(docs: list[dict]) -> dict:
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _allowed_hosts(script: str) -> list[str]:
    (value,) = re.findall(r"--allowed-hosts (\S+)", script)
    return shlex.split(value)[0].split(",")


@pytest.fixture(scope="module")
def with_floating_ip(render, external_ip_values):
    chart_values = external_ip_values(names.PLATFORM)
    chart_values["mlflow"]["publicIP"] = FLOATING_IP
    return _mlflow_container(render(names.PLATFORM, chart_values))


def test_only_the_floating_ip_and_in_cluster_names_are_accepted(with_floating_ip):
    hosts = _allowed_hosts(with_floating_ip["args"][0])
    assert "*" not in hosts
    port = PLATFORM_VALUES["mlflow"]["port"]
    ns = names.namespace(names.PLATFORM)
    for good in (f"{FLOATING_IP}:{port}", f"mlflow:{port}", f"mlflow.{ns}.svc.cluster.local:{port}", "localhost:5000"):
        assert is_allowed_host_header(hosts, good), good
    for bad in ("evil.example:8000", "129.114.27.11:8000", f"{FLOATING_IP}.evil.example", "10.56.0.17:8000"):
        assert not is_allowed_host_header(hosts, bad), bad


def test_without_the_floating_ip_nothing_public_is_accepted(rendered):
    hosts = _allowed_hosts(_mlflow_container(rendered[names.PLATFORM])["args"][0])
    assert not is_allowed_host_header(hosts, f"{FLOATING_IP}:8000")
    assert is_allowed_host_header(hosts, "mlflow:8000")


def test_mlflow_runs_its_basic_auth_app_with_the_secrets_user(with_floating_ip, tmp_path):
    script = with_floating_ip["args"][0]
    assert re.search(r"exec mlflow server \\\n\s+--app-name basic-auth", script)
    assert "basic-auth" in {e.name for e in entry_points(group="mlflow.app")}
    mounts = {m["name"]: m["mountPath"] for m in with_floating_ip["volumeMounts"]}
    assert mounts["mlflow-credentials"] == "/etc/mlflow-credentials"
    # Run the script up to the server start with stand-in secret files; MLflow's reader parses what it wrote.
    secrets = tmp_path / "etc"
    for secret, keys in {
        "mlflow-credentials": {"username": "admin", "password": "pw-123", "flask-secret-key": "k" * 40},
        "minio-credentials": {"accesskey": "a", "secretkey": "s"},
        "postgres-credentials": {"username": "mlflow", "password": "p"},
    }.items():
        (secrets / secret).mkdir(parents=True)
        for key, value in keys.items():
            (secrets / secret / key).write_text(value)
    # Up to the auth DB migration (run for real by the next test).
    prefix = script.split("exec mlflow server")[0].split("python -m mlflow.server.auth")[0]
    prefix = prefix.replace("/etc/", "@ETC@/").replace("/tmp/", "@TMP@/")
    prefix = prefix.replace("@ETC@", str(secrets)).replace("@TMP@", str(tmp_path / "podtmp"))
    prefix += 'printf "%s" "$MLFLOW_AUTH_CONFIG_PATH $MLFLOW_FLASK_SERVER_SECRET_KEY"\n'
    out = subprocess.run(["sh", "-ec", prefix], capture_output=True, text=True, check=True).stdout
    config_path, flask_key = out.split(" ")
    assert flask_key == "k" * 40
    assert os.stat(config_path).st_mode & 0o777 == 0o600
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": config_path}
    # mlflow/server/auth/config.py by path: the package's __init__ needs Flask-WTF (the image has it).
    code = (
        "import importlib.util, mlflow, pathlib\n"
        "path = pathlib.Path(mlflow.__file__).parent / 'server/auth/config.py'\n"
        "spec = importlib.util.spec_from_file_location('auth_config', path)\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "c = m.read_auth_config(); print(c.admin_username, c.admin_password)"
    )
    read = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert read.stdout.split() == ["admin", "pw-123"]


def test_the_platform_playbook_generates_the_credentials_once():
    play = yaml.safe_load((values.REPO_ROOT / "ansible/argocd/argocd_add_platform.yml").read_text())[0]
    (create,) = [t for t in play["tasks"] if t["name"] == "Create the credentials that are missing"]
    secrets = {s["name"]: s["data"] for s in create["loop"]}
    mlflow = secrets["{{ gg_platform_values.mlflow.credentials }}"]
    assert set(mlflow) == {"username", "password", "flask-secret-key"}
    assert "gg_new_password" in mlflow["password"]
    # invoke reads the same Secret the chart mounts and the playbook creates.
    from gourmetgram.cluster import mlflow_auth

    assert mlflow_auth.credentials_secret() == PLATFORM_VALUES["mlflow"]["credentials"]
    helm = next(t for t in play["tasks"] if t["name"] == "Create or update the platform application")["vars"]
    assert helm["gg_app_helm"]["mlflow.publicIP"] == "{{ gg_floating_ip | default('') }}"


def test_every_workflow_step_that_talks_to_mlflow_logs_in():
    checked = 0
    for path in sorted((values.REPO_ROOT / "workflows").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for template in doc["spec"].get("templates", []):
            body = template.get("script") or template.get("container") or {}
            env = {e["name"]: e for e in body.get("env", [])}
            if "MLFLOW_TRACKING_URI" not in env:
                continue
            for var, key in (("MLFLOW_TRACKING_USERNAME", "username"), ("MLFLOW_TRACKING_PASSWORD", "password")):
                ref = env[var]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": PLATFORM_VALUES["mlflow"]["credentials"], "key": key}, path.name
            checked += 1
    assert checked >= 7  # train, build (2), test-staging, promote (2), set-development-alias


# Flask-WTF is in the image (images/mlflow/requirements.txt), not in this venv: the auth package's
# __init__ imports its CSRFProtect, which the migration never uses. A stand-in lets the import pass.
_UPGRADE = """import runpy, sys, types
csrf = types.ModuleType("flask_wtf.csrf"); csrf.CSRFProtect = object
sys.modules.update({"flask_wtf": types.ModuleType("flask_wtf"), "flask_wtf.csrf": csrf})
sys.argv = ["mlflow.server.auth", *sys.argv[1:]]
runpy.run_module("mlflow.server.auth", run_name="__main__", alter_sys=True)
"""
_AT_HEAD = """import sys, types
csrf = types.ModuleType("flask_wtf.csrf"); csrf.CSRFProtect = object
sys.modules.update({"flask_wtf": types.ModuleType("flask_wtf"), "flask_wtf.csrf": csrf})
import sqlalchemy
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from mlflow.server.auth.db import utils
engine = sqlalchemy.create_engine(sys.argv[1])
head = ScriptDirectory.from_config(utils._get_alembic_config(sys.argv[1])).get_current_head()
with engine.begin() as conn:
    current = MigrationContext.configure(conn, opts={"version_table": "alembic_version_auth"}).get_current_revision()
print(current == head, current)
"""


def test_the_auth_db_is_migrated_once_before_the_workers_start(with_floating_ip, tmp_path):
    """mlflow/mlflow#9155: gunicorn workers migrating a fresh SQLite auth DB at once race; one upgrade first."""
    script = with_floating_ip["args"][0]
    assert "Flask-WTF==" in (values.REPO_ROOT / "images/mlflow/requirements.txt").read_text()
    before_exec = script.split("exec mlflow server")[0]
    (command,) = [line.strip() for line in before_exec.splitlines() if "mlflow.server.auth db upgrade" in line]
    # The same database the config file names (database_uri), resolved as the shell would.
    (uri,) = re.findall(r'auth_db="([^"]+)"', before_exec)
    assert 'echo "database_uri = ${auth_db}"' in before_exec
    argv = shlex.split(command.replace("${auth_db}", uri))
    assert argv[:3] == ["python", "-m", "mlflow.server.auth"] and argv[3:] == ["db", "upgrade", "--url", uri]
    assert int(PLATFORM_VALUES["mlflow"]["workers"]) > 1  # the race this avoids needs several workers
    # Run that command (MLflow's own CLI, the pinned version) on a fresh DB here: it ends at the head revision,
    # so each worker's migrate_if_needed finds nothing to do.
    local = uri.replace("/tmp/mlflow-auth/", f"{tmp_path}/")
    assert local != uri
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", _UPGRADE, *argv[3:-1], local], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    check = subprocess.run([sys.executable, "-c", _AT_HEAD, local], capture_output=True, text=True, env=env,
                           timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
    assert check.stdout.split()[0] == "True", check.stdout
