"""Every cluster task with --dry-run on this machine, with the example settings.

The printed lines must be exactly the command builders' lines, nothing may
run, and `invoke --list` must show the lab's tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from invoke import Context, Exit

from gourmetgram.cluster import argo, cloud, food11, playbooks, ssh
from gourmetgram.cluster import runner as runner_mod
from gourmetgram.cluster.settings import load_settings
from gourmetgram.paths import REPO_ROOT
from gourmetgram.tasks import cluster as tasks

LAB_TASKS = [
    "preflight", "lease", "provision", "hello", "k8s", "argocd.add", "workflows.build-init",
    "workflows.build-training-init", "workflows.apply", "data.food11", "train", "promote", "status", "tunnel",
    "destroy",
]  # fmt: skip


@pytest.fixture(autouse=True)
def nothing_runs(monkeypatch, example_process_env):
    """A dry-run must never start a process."""

    def forbidden(*args, **kwargs):
        raise AssertionError(f"dry-run started a process: {args}")

    monkeypatch.setattr(runner_mod, "subprocess", types.SimpleNamespace(run=forbidden, PIPE=subprocess.PIPE))


def would_run(capsys) -> list[str]:
    out = capsys.readouterr().out
    return [line.removeprefix("would run: ") for line in out.splitlines() if line.startswith("would run: ")]


def rendered(steps) -> list[str]:
    return [s.render().split("\n")[0] for s in steps]


def test_provision(capsys):
    tasks.provision(Context(), dry_run=True, replace="node2", no_preflight=True)
    s = load_settings()
    assert would_run(capsys) == rendered(cloud.provision_steps(s, replace="node2"))


def test_provision_and_k8s_start_with_their_preflight(capsys):
    s = load_settings()
    tasks.provision(Context(), dry_run=True)
    lines = would_run(capsys)
    steps = rendered(cloud.provision_steps(s))
    assert lines[-len(steps) :] == steps
    assert any("openstack reservation lease show lease_mlops_abc123 -f json" in line for line in lines[: -len(steps)])
    tasks.k8s(Context(), dry_run=True)
    out = capsys.readouterr().out
    assert out.index("preflight: nodes") < out.index("[k8s 1/4] pre_k8s")
    assert "would run: ssh -i " in out and "cc@203.0.113.10 true" in out


def test_lease(capsys):
    tasks.lease(Context(), dry_run=True)
    lines = would_run(capsys)
    assert len(lines) == 3
    assert lines[0] == cloud.flavor_id_step(load_settings()).render()
    assert "openstack reservation lease create lease_mlops_abc123 --start-date" in lines[1]
    assert "flavor_id=<flavor id of m1.large>,amount=3" in lines[1]
    assert lines[2] == cloud.lease_show_step(load_settings()).render()


def test_hello_and_workflow_playbooks(capsys):
    s = load_settings()
    tasks.hello(Context(), dry_run=True)
    tasks.workflows_build_init(Context(), dry_run=True)
    tasks.workflows_build_training_init(Context(), dry_run=True, branch="mlops-bad")
    tasks.workflows_apply(Context(), dry_run=True)
    assert would_run(capsys) == rendered(
        playbooks.hello_steps()
        + playbooks.build_init_steps(s)
        + playbooks.build_training_init_steps(s, "mlops-bad")
        + playbooks.templates_apply_steps(s)
    )


@pytest.mark.parametrize("env", ["platform", "staging", "canary", "production"])
def test_argocd_add(capsys, env):
    tasks.argocd_add(Context(), env=env, dry_run=True)
    assert would_run(capsys) == rendered(playbooks.argocd_add_steps(load_settings(), env))


def test_k8s_all_stages_and_resume(capsys):
    tasks.k8s(Context(), dry_run=True, no_preflight=True)
    everything = [step for _, steps in playbooks.k8s_stages() for step in steps]
    assert would_run(capsys) == rendered(everything)
    tasks.k8s(Context(), dry_run=True, from_stage="post_k8s", no_preflight=True)
    assert would_run(capsys) == rendered(playbooks.k8s_stages()[-1][1])
    with pytest.raises(Exit, match="unknown stage 'kubeadm'"):
        tasks.k8s(Context(), dry_run=True, from_stage="kubeadm")


def test_train_promote_status_tunnel(capsys):
    s = load_settings()
    ip = s.floating_ip
    tasks.train(Context(), dry_run=True, branch="mlops", bad=True)
    tasks.promote(Context(), version="4", dry_run=True)
    tasks.status(Context(), dry_run=True)
    tasks.tunnel(Context(), service="workflows", dry_run=True)
    cpu_food11 = {"train-args": food11.TRAIN_ARGS_CPU, "gpus": "0"}  # dry-run: no GPU seen
    expected = (
        [food11.gpu_nodes_step(s, ip), food11.pvc_step(s, ip)]
        + argo.train_steps(s, ip, "mlops", True, cpu_food11)
        + [argo.argocd_app_step(s, ip, "canary")]  # the promotion rule reads what canary serves
        + argo.promote_steps(s, ip, "canary", "production", 4)
        + [step for _, step in ssh.deployed_image_steps(s, ip)]
        + [ssh.mlflow_credentials_step(s, ip)]
        + ssh.mlflow_steps(ip)
        + [ssh.tunnel_step(s, ip, "workflows")]
    )
    assert would_run(capsys) == rendered(expected)


def test_floating_ip_comes_from_terraform_when_unset(capsys, monkeypatch):
    monkeypatch.setenv("GG_FLOATING_IP", "")
    tasks.status(Context(), dry_run=True)
    lines = would_run(capsys)
    assert lines[0] == cloud.terraform_output_step().render()
    assert "cc@<floating_ip_out>" in lines[1]


def test_destroy(capsys):
    tasks.destroy(Context(), dry_run=True)
    assert would_run(capsys) == rendered(cloud.destroy_steps(load_settings()))


def test_bad_settings_stop_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("GG_RESERVATION", "not-a-uuid")
    with pytest.raises(Exit, match="settings: bad GG_RESERVATION"):
        tasks.provision(Context(), dry_run=True)
    monkeypatch.setenv("GG_SUFFIX", "")
    with pytest.raises(Exit, match="settings: missing setting GG_SUFFIX"):
        tasks.destroy(Context(), dry_run=True)


@pytest.mark.parametrize(
    "source, target, version, message",
    [
        ("staging", "production", "3", "cannot promote staging -> production"),
        ("canary", "production", "1.0.3", "non-negative integer"),
        ("canary", "prod", "3", "unknown environment 'prod'"),
    ],
)
def test_bad_promotion_stops_with_a_clear_message(capsys, source, target, version, message):
    """The task parses the user's words (version N, an allowed path) before any command, even in a dry-run."""
    with pytest.raises(Exit, match=message) as exc:
        tasks.promote(Context(), version=version, from_=source, to=target, dry_run=True)
    assert exc.value.code == 2
    assert would_run(capsys) == []


def test_invoke_cli_lists_the_lab_tasks_and_dry_runs(example_env):
    invoke = str(Path(sys.executable).parent / "invoke")
    listed = subprocess.run([invoke, "--list"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    shown = {line.split()[0] for line in listed.splitlines()[1:] if line.strip()}
    assert set(LAB_TASKS) <= shown
    out = subprocess.run(
        [invoke, "promote", "--from", "canary", "--to", "production", "--version", "5", "--dry-run"],
        cwd=REPO_ROOT,
        env={**example_env, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "would run: ssh -i " in out and '"name": "promote-model"' in out and '"value": "5"' in out
