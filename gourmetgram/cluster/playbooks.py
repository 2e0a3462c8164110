"""The lab's ansible-playbook runs from the controller (Kubernetes, Kubespray, Argo CD applications,
one-off builds), as pure functions of the settings.

Tasks (gourmetgram/tasks/cluster.py) run these through the Runner; tests assert them.
"""

from __future__ import annotations

import json

from gourmetgram import names
from gourmetgram.cluster import workflow_defaults
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import UsageError
from gourmetgram.paths import REPO_ROOT

ANSIBLE_DIR = REPO_ROOT / "ansible"
ANSIBLE_CONFIG = ANSIBLE_DIR / "ansible.cfg"
KUBESPRAY_DIR = ANSIBLE_DIR / "k8s" / "kubespray"
KUBESPRAY_VENV = REPO_ROOT / ".state" / "cluster" / "kubespray-venv"


# Playbook of each `invoke argocd.add --env` choice: argocd_add_<env>.yml for the platform and every
# environment of names.py, with the lab's one short file name (argocd_add_prod.yml).
_PLAYBOOK_SHORT_NAMES = {names.PRODUCTION: "prod"}
ARGOCD_PLAYBOOKS = {
    env: f"argocd/argocd_add_{_PLAYBOOK_SHORT_NAMES.get(env, env)}.yml" for env in (names.PLATFORM, *names.ENVIRONMENTS)
}


# Stages of `invoke k8s`, in order (names for --from-stage).
K8S_STAGES = ("pre_k8s", "kubespray-deps", "kubespray", "post_k8s")


def _ansible_env() -> dict[str, str]:
    return {"ANSIBLE_CONFIG": str(ANSIBLE_CONFIG)}


def playbook_step(playbook: str, *extra: str, title: str = "") -> Step:
    """ansible-playbook <playbook> from ansible/, with the generated config and inventory."""
    return Step(
        argv=("ansible-playbook", "-i", "inventory.yml", *extra, playbook),
        cwd=ANSIBLE_DIR,
        env=_ansible_env(),
        title=title or playbook,
    )


def _repo_vars(settings: Settings) -> tuple[str, ...]:
    settings.require("repo_url", "repo_revision")
    return ("-e", f"gg_repo_url={settings.repo_url}", "-e", f"gg_repo_revision={settings.repo_revision}")


def hello_steps() -> list[Step]:
    return [playbook_step("general/hello_host.yml", title="Hello, world: hostname of every node")]


def k8s_stages(registry_mirror: str | None = None) -> list[tuple[str, list[Step]]]:
    """pre_k8s, Kubespray's own venv, Kubespray cluster.yml, post_k8s (GG_REGISTRY_MIRROR goes to pre_k8s)."""
    # Docker reads the mirror from daemon.json (pre_k8s); Kubespray's docker_registry_mirrors stays
    # empty, since Docker refuses an option set both as a flag and in daemon.json.
    mirrors = ("-e", json.dumps({"gg_registry_mirrors": [registry_mirror]})) if registry_mirror else ()
    venv_bin = KUBESPRAY_VENV / "bin"
    kubespray = Step(
        argv=(
            str(venv_bin / "ansible-playbook"),
            "-i", "../inventory/mycluster",
            "-i", "../../inventory.yml",
            "-e", "@../../vars/versions.yml",
            "--become", "--become-user=root",
            "cluster.yml",
        ),
        cwd=KUBESPRAY_DIR,
        # Kubespray's own ansible.cfg (found in its directory: roles path, Jinja
        # extensions, SSH settings it is tested with) instead of ours; the jump
        # through node1 comes with the generated inventory.yml.
        unset_env_prefixes=("ANSIBLE_CONFIG",),
        title="Kubespray cluster.yml (Kubernetes on 3 nodes; up to an hour)",
    )  # fmt: skip
    deps = [
        Step(
            argv=("git", "submodule", "update", "--init", "ansible/k8s/kubespray"),
            title="Kubespray submodule at the pinned commit",
        ),
        Step(argv=("python3", "-m", "venv", str(KUBESPRAY_VENV)), title="Kubespray's own venv (its Ansible version)"),
        Step(
            argv=(str(venv_bin / "pip"), "install", "-q", "-r", "ansible/k8s/kubespray/requirements.txt"),
            title="Kubespray's pinned requirements",
        ),
    ]
    return [
        (
            "pre_k8s",
            [playbook_step("pre_k8s/pre_k8s_configure.yml", *mirrors, title="pre_k8s: firewalld off, Docker registry")],
        ),
        ("kubespray-deps", deps),
        ("kubespray", [kubespray]),
        ("post_k8s", [playbook_step("post_k8s/post_k8s_configure.yml", title="post_k8s: kubeconfig, DNS, Argo")]),
    ]


def argocd_add_steps(settings: Settings, env: str, floating_ip: str | None = None) -> list[Step]:
    """The env's playbook; the platform's also gets node1's floating IP (the one Host MLflow accepts besides
    its in-cluster names)."""
    if env not in ARGOCD_PLAYBOOKS:
        raise UsageError(f"unknown environment {env!r}: expected one of {', '.join(ARGOCD_PLAYBOOKS)}")
    extra: tuple[str, ...] = ()
    floating_ip = floating_ip or settings.floating_ip
    if env == names.PLATFORM and floating_ip:
        extra = ("-e", f"gg_floating_ip={floating_ip}")
    return [
        playbook_step(
            ARGOCD_PLAYBOOKS[env], *_repo_vars(settings), *extra, title=f"Argo CD application {names.app_name(env)}"
        )
    ]


def build_init_steps(settings: Settings, branch: str | None = None) -> list[Step]:
    branch = settings.revision(branch)
    return [
        playbook_step(
            "argocd/workflow_build_init.yml", *_repo_vars(settings), "-e", f"gg_branch={branch}",
            title="initial app images (staging/canary/production-1.0.0)",
        )
    ]  # fmt: skip


def build_training_init_steps(settings: Settings, branch: str | None = None) -> list[Step]:
    branch = settings.revision(branch)
    return [
        playbook_step(
            "argocd/workflow_build_training_init.yml", *_repo_vars(settings), "-e", f"gg_branch={branch}",
            title=f"training image from branch {branch}",
        )
    ]  # fmt: skip


def templates_apply_steps(settings: Settings) -> list[Step]:
    """Apply the templates that workflow_defaults.write_rendered wrote (GG_REPO_URL/GG_REPO_REVISION as defaults)."""
    return [
        playbook_step(
            "argocd/workflow_templates_apply.yml", *_repo_vars(settings),
            "-e", f"gg_workflow_manifest_file={workflow_defaults.RENDERED_FILE}",
            title=f"WorkflowTemplates and cron-train for {settings.repo_url} at {settings.repo_revision}",
        )
    ]  # fmt: skip
