"""The exact command lines of every lab step (what --dry-run prints and a real run executes)."""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime

import pytest
import yaml

from gourmetgram import names, values
from gourmetgram.cluster import argo, cloud, playbooks, ssh, workflow_defaults
from gourmetgram.paths import REPO_ROOT

SSH = (
    "ssh", "-i", "{key}", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "cc@203.0.113.10",
)  # fmt: skip
TF_ENV = {
    "TF_VAR_suffix": "abc123",
    "TF_VAR_key": "id_rsa_chameleon",
    "TF_VAR_reservation": "4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f",
    "OS_CLIENT_CONFIG_FILE": str(REPO_ROOT / "tf/kvm/clouds.yaml"),
}
REPO = ("-e", "gg_repo_url=https://github.com/example/gourmetgram-mlops.git", "-e", "gg_repo_revision=main")


def ssh_prefix(settings):
    return tuple(a.format(key=settings.ssh_key_path()) for a in SSH)


def test_provision_runs_terraform_in_lab_order(settings):
    steps = cloud.provision_steps(settings)
    assert [s.argv for s in steps] == [
        ("terraform", "-chdir=tf/kvm", "init", "-input=false"),
        ("terraform", "-chdir=tf/kvm", "validate"),
        ("terraform", "-chdir=tf/kvm", "plan", "-input=false", "-out=tfplan"),
        ("terraform", "-chdir=tf/kvm", "apply", "-input=false", "tfplan"),
        ("terraform", "-chdir=tf/kvm", "output", "-json"),
    ]
    assert all(s.env == TF_ENV for s in steps[:4])
    assert all(s.unset_env_prefixes == ("OS_",) for s in steps)
    assert steps[-1].capture


def test_provision_can_replace_one_node(settings):
    plan = cloud.provision_steps(settings, replace="node3")[2]
    assert plan.argv[-1] == 'openstack_compute_instance_v2.nodes["node3"]'.join(["-replace=", ""])
    with pytest.raises(ValueError, match="unknown node 'node9'"):
        cloud.provision_steps(settings, replace="node9")


def test_destroy(settings):
    (step,) = cloud.destroy_steps(settings)
    assert step.argv == ("terraform", "-chdir=tf/kvm", "destroy", "-auto-approve", "-input=false")
    assert step.env == TF_ENV


def test_lease_commands(settings):
    flavor = cloud.flavor_id_step(settings)
    assert flavor.argv == ("openstack", "flavor", "show", "m1.large", "-f", "value", "-c", "id")
    assert flavor.env["OS_CLOUD"] == "openstack"
    assert flavor.env["OS_CLIENT_CONFIG_FILE"] == str(REPO_ROOT / "tf/kvm/clouds.yaml")
    create = cloud.lease_create_step(settings, "flavor-uuid", datetime(2026, 3, 1, 23, 59, 55))
    assert create.argv == (
        "openstack", "reservation", "lease", "create", "lease_mlops_abc123",
        "--start-date", "2026-03-02 00:00",
        "--end-date", "2026-03-02 11:59",
        "--reservation", "resource_type=flavor:instance,flavor_id=flavor-uuid,amount=3",
    )  # fmt: skip
    show = cloud.lease_show_step(settings)
    assert show.argv == (
        "openstack", "reservation", "lease", "show", "lease_mlops_abc123", "-f", "json", "-c", "reservations",
    )  # fmt: skip


@pytest.mark.parametrize("as_string", [False, True])
def test_reservation_id_from_the_lease(as_string):
    reservations = [{"resource_type": "flavor:instance", "flavor_id": "11111111-2222-3333-4444-555555555555"}]
    text = json.dumps({"reservations": json.dumps(reservations) if as_string else reservations})
    assert cloud.reservation_from_lease_json(text) == "11111111-2222-3333-4444-555555555555"
    with pytest.raises(ValueError, match="no flavor reservation"):
        cloud.reservation_from_lease_json(json.dumps({"reservations": []}))


def test_hello(settings):
    (step,) = playbooks.hello_steps()
    assert step.argv == ("ansible-playbook", "-i", "inventory.yml", "general/hello_host.yml")
    assert step.cwd == REPO_ROOT / "ansible"
    assert step.env == {"ANSIBLE_CONFIG": str(REPO_ROOT / "ansible/ansible.cfg")}


def test_k8s_stages():
    stages = playbooks.k8s_stages()
    assert [name for name, _ in stages] == list(playbooks.K8S_STAGES)
    argvs = {name: [s.argv for s in steps] for name, steps in stages}
    venv = str(REPO_ROOT / ".state/cluster/kubespray-venv/bin")
    assert argvs["pre_k8s"] == [("ansible-playbook", "-i", "inventory.yml", "pre_k8s/pre_k8s_configure.yml")]
    assert argvs["kubespray-deps"] == [
        ("git", "submodule", "update", "--init", "ansible/k8s/kubespray"),
        ("python3", "-m", "venv", str(REPO_ROOT / ".state/cluster/kubespray-venv")),
        (f"{venv}/pip", "install", "-q", "-r", "ansible/k8s/kubespray/requirements.txt"),
    ]
    assert argvs["kubespray"] == [
        (
            f"{venv}/ansible-playbook",
            "-i", "../inventory/mycluster", "-i", "../../inventory.yml", "-e", "@../../vars/versions.yml",
            "--become", "--become-user=root", "cluster.yml",
        )
    ]  # fmt: skip
    kubespray = stages[2][1][0]
    assert kubespray.cwd == REPO_ROOT / "ansible/k8s/kubespray"
    # Kubespray runs with its own ansible.cfg (the one in its directory), never an inherited ANSIBLE_CONFIG.
    assert kubespray.env == {} and kubespray.unset_env_prefixes == ("ANSIBLE_CONFIG",)
    # The relative paths name this repository's files.
    ansible = REPO_ROOT / "ansible"
    for rel, target in [
        ("../inventory/mycluster", ansible / "k8s/inventory/mycluster"),
        ("../../inventory.yml", ansible / "inventory.yml"),
        ("../../vars/versions.yml", ansible / "vars/versions.yml"),
    ]:
        assert os.path.normpath(kubespray.cwd / rel) == str(target)
    assert (ansible / "vars/versions.yml").is_file() and (ansible / "k8s/inventory/mycluster/hosts.yaml").is_file()
    assert argvs["post_k8s"] == [("ansible-playbook", "-i", "inventory.yml", "post_k8s/post_k8s_configure.yml")]


@pytest.mark.parametrize(
    "env, playbook",
    [
        ("platform", "argocd/argocd_add_platform.yml"),
        ("staging", "argocd/argocd_add_staging.yml"),
        ("canary", "argocd/argocd_add_canary.yml"),
        ("production", "argocd/argocd_add_prod.yml"),
    ],
)
def test_argocd_add(settings, env, playbook):
    (step,) = playbooks.argocd_add_steps(settings, env)
    # The platform also gets node1's floating IP: the one public Host MLflow accepts.
    ip = ("-e", f"gg_floating_ip={settings.floating_ip}") if env == "platform" else ()
    assert step.argv == ("ansible-playbook", "-i", "inventory.yml", *REPO, *ip, playbook)
    assert (REPO_ROOT / "ansible" / playbook).is_file()


def test_argocd_add_rejects_unknown_env(settings):
    with pytest.raises(ValueError, match="unknown environment 'prod'"):
        playbooks.argocd_add_steps(settings, "prod")


def test_workflow_playbooks(settings):
    # Without --branch: GG_REPO_REVISION (main in the example settings), never a hard-wired branch.
    assert playbooks.build_init_steps(settings)[0].argv == (
        "ansible-playbook", "-i", "inventory.yml", *REPO, "-e", "gg_branch=main", "argocd/workflow_build_init.yml",
    )  # fmt: skip
    assert playbooks.build_training_init_steps(settings, "mlops-bad")[0].argv == (
        "ansible-playbook", "-i", "inventory.yml", *REPO, "-e", "gg_branch=mlops-bad",
        "argocd/workflow_build_training_init.yml",
    )  # fmt: skip
    assert playbooks.templates_apply_steps(settings)[0].argv == (
        "ansible-playbook", "-i", "inventory.yml", *REPO,
        "-e", f"gg_workflow_manifest_file={workflow_defaults.RENDERED_FILE}",
        "argocd/workflow_templates_apply.yml",
    )  # fmt: skip


def _submitted(step) -> dict:
    assert step.argv[-1] == "kubectl create -n argo -f - -o name"
    return json.loads(step.stdin)


@pytest.mark.parametrize("bad, flag", [(False, "false"), (True, "true")])
def test_train_submits_train_model(settings, bad, flag):
    (step,) = argo.train_steps(settings, "203.0.113.10", branch="feature-x", bad=bad)
    assert step.argv[:-1] == ssh_prefix(settings)
    wf = _submitted(step)
    assert wf["metadata"] == {"generateName": "train-model-", "namespace": "argo"}
    assert wf["spec"]["workflowTemplateRef"] == {"name": "train-model"}
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params["branch"] == "feature-x"
    assert params["repo-url"] == settings.repo_url
    assert params["bad-model"] == flag
    # Without --branch: GG_REPO_REVISION.
    (default,) = argo.train_steps(settings, "203.0.113.10", bad=bad)
    assert {p["name"]: p["value"] for p in _submitted(default)["spec"]["arguments"]["parameters"]}["branch"] == "main"
    # Every parameter passed is declared by the template in this checkout.
    assert set(params) <= set(argo.declared_parameters("train-model.yaml"))


def test_promote_submits_promote_model(settings):
    (step,) = argo.promote_steps(settings, "203.0.113.10", "canary", "production", 7)
    wf = _submitted(step)
    assert wf["spec"]["workflowTemplateRef"] == {"name": "promote-model"}
    assert wf["spec"]["arguments"]["parameters"] == [
        {"name": "source-environment", "value": "canary"},
        {"name": "target-environment", "value": "production"},
        {"name": "model-version", "value": "7"},
        # The training image of GG_REPO_REVISION runs check-promotion (never a tag nobody built).
        {"name": "train-image-tag", "value": "main"},
    ]


def test_undeclared_workflow_parameter_is_refused():
    with pytest.raises(ValueError, match="declares .*; not bad_model"):
        argo.workflow_from_template("train-model", {"bad_model": "true"})


def test_status_commands(settings):
    images = ssh.deployed_image_steps(settings, "203.0.113.10")
    assert [env for env, _ in images] == list(names.ENVIRONMENTS)
    for env, step in images:
        assert step.argv[:-1] == ssh_prefix(settings)
        assert shlex.split(step.argv[-1]) == [
            "kubectl", "-n", f"gourmetgram-{env}", "get", "deployment", "gourmetgram-app",
            "-o", "jsonpath={.spec.template.spec.containers[0].image}",
        ]  # fmt: skip
    model, versions = ssh.mlflow_steps("203.0.113.10")
    base = "http://203.0.113.10:8000/api/2.0/mlflow"
    # MLflow's basic auth: the user comes from a 0600 netrc file, never from the command line.
    netrc = str(REPO_ROOT / ".state/cluster/mlflow.netrc")
    assert model.argv[:6] == ("curl", "-fsS", "--max-time", "20", "--netrc-file", netrc)
    assert model.argv[6] == f"{base}/registered-models/get?name=GourmetGramFood11Model"
    (secret,) = [ssh.mlflow_credentials_step(settings, "203.0.113.10")]
    assert secret.argv[-1] == "kubectl -n gourmetgram-platform get secret mlflow-credentials -o json"
    assert secret.capture
    assert versions.argv[-1] == (
        f"{base}/model-versions/search?filter=name%3D%27GourmetGramFood11Model%27&max_results=200"
    )


@pytest.mark.parametrize(
    "service, port, remote",
    [
        ("dashboard", 8443, "kubectl port-forward -n kube-system svc/kubernetes-dashboard 8443:443"),
        ("argocd", 8888, "kubectl port-forward -n argocd svc/argocd-server 8888:443"),
        ("workflows", 2746, "kubectl port-forward -n argo svc/argo-server 2746:2746"),
    ],
)
def test_tunnels_are_the_labs_port_forwards(settings, service, port, remote):
    step = ssh.tunnel_step(settings, "203.0.113.10", service)
    assert step.argv == ("ssh", "-t", "-L", f"{port}:127.0.0.1:{port}", *ssh_prefix(settings)[1:], remote)


def test_unknown_tunnel(settings):
    with pytest.raises(ValueError, match="unknown service 'grafana'"):
        ssh.tunnel_step(settings, "203.0.113.10", "grafana")


def test_dry_run_rendering_is_a_shell_line(settings):
    step = cloud.provision_steps(settings)[0]
    assert step.render() == (
        "unset $(compgen -e | grep '^OS_') ; TF_VAR_suffix=abc123 TF_VAR_key=id_rsa_chameleon "
        "TF_VAR_reservation=4f6d1c2a-8b3e-4c5d-9e7f-0a1b2c3d4e5f "
        f"OS_CLIENT_CONFIG_FILE={REPO_ROOT}/tf/kvm/clouds.yaml terraform -chdir=tf/kvm init -input=false"
    )
    assert playbooks.hello_steps()[0].render() == (
        f"(cd ansible && ANSIBLE_CONFIG={REPO_ROOT}/ansible/ansible.cfg "
        "ansible-playbook -i inventory.yml general/hello_host.yml)"
    )


def test_registry_mirror_reaches_dockers_daemon_json(example_env):
    """GG_REGISTRY_MIRROR -> pre_k8s's gg_registry_mirrors -> registry-mirrors in /etc/docker/daemon.json."""
    from gourmetgram.cluster.settings import SettingsError, load_settings

    mirror = "https://mirror.example.org"
    settings = load_settings({**example_env, "GG_REGISTRY_MIRROR": mirror}).require("registry_mirror")
    (pre_k8s,) = dict(playbooks.k8s_stages(settings.registry_mirror))["pre_k8s"]
    assert pre_k8s.argv[3:5] == ("-e", json.dumps({"gg_registry_mirrors": [mirror]}))
    (plain,) = dict(playbooks.k8s_stages())["pre_k8s"]
    assert "-e" not in plain.argv
    play = yaml.safe_load((REPO_ROOT / "ansible/pre_k8s/pre_k8s_configure.yml").read_text())[0]
    (docker_task,) = [t for t in play["tasks"] if t["name"] == "Configure Docker to trust the in-cluster registry"]
    assert docker_task["vars"]["docker_daemon_config"]["registry-mirrors"] == "{{ gg_registry_mirrors }}"
    with pytest.raises(SettingsError, match="GG_REGISTRY_MIRROR"):
        load_settings({**example_env, "GG_REGISTRY_MIRROR": "mirror.example.org"}).require("registry_mirror")


def test_workflows_tunnel_says_how_to_get_a_ui_token_never_a_token(settings):
    # argo-server runs in client auth mode: the UI needs a token of the chart's read-only UI account.
    workflows = values.chart_values(names.PLATFORM)["workflows"]
    title = ssh.tunnel_step(settings, "203.0.113.10", "workflows").title
    assert f"kubectl -n {workflows['namespace']} create token {workflows['uiServiceAccount']}" in title
    assert "Bearer <token>" in title and "server auth mode" not in title
    # Only the command: nothing here runs it or reads a Secret.
    assert "get secret" not in title and "jsonpath" not in title
