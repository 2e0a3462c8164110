"""Real (not dry-run) task runs against stand-in tools on PATH: no cloud, no cluster, no network.

The stand-ins record their arguments and answer like the real tools, so the
tasks' own logic (parse Terraform output, write the Ansible files, summarise
MLflow and the deployed images) runs for real.
"""

from __future__ import annotations

import functools
import json
import os
import stat

import pytest
import yaml
from invoke import Context

from gourmetgram.tasks import cluster as tasks

TF_OUTPUT = {"floating_ip_out": {"sensitive": False, "type": "string", "value": "129.114.27.10"}}
MODEL = {
    "registered_model": {
        "name": "GourmetGramFood11Model",
        "aliases": [
            {"alias": "production", "version": "1"},
            {"alias": "staging-approved", "version": "2"},
            {"alias": "canary", "version": "2"},
            {"alias": "development", "version": "3"},
            {"alias": "staging", "version": "3"},
        ],
    }
}
VERSIONS = {"model_versions": [{"version": v, "status": "READY"} for v in ("3", "1", "2")]}


def _tool(bin_dir, name, script):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + f'echo "{name} $*" >> "$GG_TOOL_LOG"\n' + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def tools(tmp_path, monkeypatch, example_process_env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.write_text("")
    (tmp_path / "clouds.yaml").write_text("clouds: {}\n")
    (tmp_path / "tf.json").write_text(json.dumps(TF_OUTPUT))
    (tmp_path / "model.json").write_text(json.dumps(MODEL))
    (tmp_path / "versions.json").write_text(json.dumps(VERSIONS))
    _tool(bin_dir, "terraform", f'case "$*" in *"output -json"*) cat {tmp_path}/tf.json;; esac\n')
    _tool(
        bin_dir,
        "curl",
        f'case "$*" in *registered-models/get*) cat {tmp_path}/model.json;; *) cat {tmp_path}/versions.json;; esac\n',
    )
    # staging answers; canary's Deployment is missing (kubectl fails); production answers.
    _tool(
        bin_dir,
        "ssh",
        # MLflow's user admin / s3cr3t (base64, as kubectl prints a Secret).
        'case "$*" in *"secret mlflow-credentials"*)'
        ' echo \'{"data": {"username": "YWRtaW4=", "password": "czNjcjN0"}}\';;'
        " *gourmetgram-staging*) echo registry:5000/gourmetgram-app:staging-1.0.3;;"
        ' *gourmetgram-canary*) echo "not found" >&2; exit 1;;'
        " *) echo registry:5000/gourmetgram-app:production-1.0.1;; esac\n",
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("GG_TOOL_LOG", str(log))
    monkeypatch.setenv("GG_CLOUDS_YAML", str(tmp_path / "clouds.yaml"))
    # MLflow's credentials go to this process's environment and a netrc file: both kept to this test.
    from gourmetgram.cluster import mlflow_auth

    monkeypatch.setattr(mlflow_auth, "NETRC_FILE", tmp_path / "mlflow.netrc")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "unset-by-the-test")
    return tmp_path, log


def test_provision_writes_the_ansible_files_from_terraform_output(tools, monkeypatch, capsys):
    tmp_path, log = tools
    monkeypatch.setattr(
        tasks, "write_ansible_files", functools.partial(tasks.write_ansible_files, ansible_dir=tmp_path / "ansible")
    )
    tasks.provision(Context(), no_preflight=True)
    calls = log.read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["init", "validate", "plan", "apply", "output"]
    inventory = yaml.safe_load((tmp_path / "ansible/inventory.yml").read_text())
    assert "cc@129.114.27.10" in inventory["all"]["vars"]["ansible_ssh_common_args"]
    assert "floating IP 129.114.27.10" in capsys.readouterr().out


def test_status_summarises_registry_and_environments(tools, capsys):
    tasks.status(Context())
    out = capsys.readouterr().out
    assert "version   1 (1.0.1)  READY  aliases: production" in out
    assert "version   2 (1.0.2)  READY  aliases: staging-approved, canary" in out
    assert "version   3 (1.0.3)  READY  aliases: development, staging" in out
    assert "staging     registry:5000/gourmetgram-app:staging-1.0.3" in out
    assert "canary      (not deployed)" in out
    assert "production  registry:5000/gourmetgram-app:production-1.0.1" in out
    # MLflow's basic auth: curl reads the user from a 0600 netrc; the password is never printed.
    tmp_path, log = tools
    netrc = tmp_path / "mlflow.netrc"
    assert netrc.read_text() == "machine 203.0.113.10\nlogin admin\npassword s3cr3t\n"
    assert netrc.stat().st_mode & 0o777 == 0o600
    assert f"--netrc-file {netrc}" in log.read_text()
    assert "s3cr3t" not in out and "s3cr3t" not in log.read_text()
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "admin" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cr3t"


def test_lease_waits_for_the_reserved_flavor(tools, monkeypatch, capsys):
    tmp_path, log = tools
    monkeypatch.setattr(tasks, "LEASE_SHOW_DELAY", 0)
    filled = json.dumps({"reservations": [{"flavor_id": "11111111-2222-3333-4444-555555555555"}]})
    (tmp_path / "filled.json").write_text(filled)
    # flavor show -> an ID; lease show -> empty the first time, the reserved flavor afterwards.
    _tool(
        tmp_path / "bin",
        "openstack",
        f'case "$*" in "flavor show"*) echo flavor-m1-large;;'
        f' *"lease show"*) if [ -e {tmp_path}/shown ]; then cat {tmp_path}/filled.json;'
        f" else touch {tmp_path}/shown; echo '{{\"reservations\": []}}'; fi;; esac\n",
    )
    tasks.lease(Context())
    calls = [c for c in log.read_text().splitlines() if c.startswith("openstack")]
    assert calls[0] == "openstack flavor show m1.large -f value -c id"
    assert "flavor_id=flavor-m1-large,amount=3" in calls[1]
    assert len([c for c in calls if "lease show" in c]) == 2
    out = capsys.readouterr().out
    assert "reservation (flavor ID) 11111111-2222-3333-4444-555555555555" in out


def test_playbook_tasks_need_the_generated_ansible_files(tools, monkeypatch, capsys):
    tmp_path, log = tools
    from invoke import Exit

    from gourmetgram.cluster import playbooks

    monkeypatch.setattr(playbooks, "ANSIBLE_DIR", tmp_path / "ansible")
    with pytest.raises(Exit, match=r"inventory\.yml and .*ansible\.cfg not found: run `invoke provision`"):
        tasks.hello(Context())
    with pytest.raises(Exit, match="not found: run `invoke provision`"):
        tasks.k8s(Context())
    # A dry-run only notes it and still prints the commands.
    tasks.hello(Context(), dry_run=True)
    out = capsys.readouterr().out
    assert "note: a real run would stop here" in out and "would run: " in out
    assert log.read_text() == ""
