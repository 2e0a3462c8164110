"""The exact commands of every lab step, as pure functions of the settings.

Tasks (gourmetgram/tasks/cluster.py) run these through the Runner; tests
assert them. Nothing here touches the network or the filesystem except
reading this checkout's workflow files (to pass only declared parameters).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import yaml

from gourmetgram import names, values
from gourmetgram.cluster import mlflow_auth, workflow_defaults
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import REPO_ROOT, Settings
from gourmetgram.cluster.workflow_defaults import branch_image_tag

TF_DIR = "tf/kvm"
TF_PLAN = "tfplan"
ANSIBLE_DIR = REPO_ROOT / "ansible"
ANSIBLE_CONFIG = ANSIBLE_DIR / "ansible.cfg"
KUBESPRAY_DIR = ANSIBLE_DIR / "k8s" / "kubespray"
KUBESPRAY_VENV = REPO_ROOT / ".state" / "cluster" / "kubespray-venv"
WORKFLOWS_DIR = REPO_ROOT / "workflows"
ARGO_NAMESPACE = "argo"
FLOATING_IP_PLACEHOLDER = "<floating_ip_out>"
LEASE_FLAVOR = "m1.large"
LEASE_NODES = 3
LEASE_HOURS = 12
NODE_IMAGE_USER = "cc"

# Playbook of each `invoke argocd.add --env` choice (the lab's file names).
ARGOCD_PLAYBOOKS = {
    names.PLATFORM: "argocd/argocd_add_platform.yml",
    names.STAGING: "argocd/argocd_add_staging.yml",
    names.CANARY: "argocd/argocd_add_canary.yml",
    names.PRODUCTION: "argocd/argocd_add_prod.yml",
}


# The lab's dashboards: local port, namespace, service, service port.
@dataclass(frozen=True)
class Tunnel:
    local_port: int
    namespace: str
    service: str
    service_port: int
    url: str
    login: str


# argo-server runs in client auth mode (ansible/vars/versions.yml): the UI asks for a token and
# acts with its rights. The platform chart's read-only UI account; the token is never printed here.
_WORKFLOWS = values.chart_values(names.PLATFORM)["workflows"]
_WORKFLOWS_UI_LOGIN = (
    f"paste 'Bearer <token>' into the login box; token: on node1, "
    f"kubectl -n {_WORKFLOWS['namespace']} create token {_WORKFLOWS['uiServiceAccount']}"
)

TUNNELS = {
    "dashboard": Tunnel(
        8443,
        "kube-system",
        "svc/kubernetes-dashboard",
        443,
        "https://127.0.0.1:8443/",
        "token: on node1, kubectl -n kube-system create token admin-user",
    ),
    "argocd": Tunnel(
        8888,
        "argocd",
        "svc/argocd-server",
        443,
        "https://127.0.0.1:8888/",
        "user admin; password: on node1, kubectl -n argocd get secret argocd-initial-admin-secret "
        "-o jsonpath='{.data.password}' | base64 -d",
    ),
    "workflows": Tunnel(
        2746, _WORKFLOWS["namespace"], "svc/argo-server", 2746, "https://127.0.0.1:2746/", _WORKFLOWS_UI_LOGIN
    ),
}

# Stages of `invoke k8s`, in order (names for --from-stage).
K8S_STAGES = ("pre_k8s", "kubespray-deps", "kubespray", "post_k8s")


# ---- Terraform / OpenStack -----------------------------------------------------------------


def terraform_env(settings: Settings) -> dict[str, str]:
    """TF_VAR_* for tf/kvm (the lab's `export TF_VAR_...`)."""
    settings.require("suffix", "key", "reservation")
    return {
        "TF_VAR_suffix": str(settings.suffix),
        "TF_VAR_key": settings.key,
        "TF_VAR_reservation": str(settings.reservation),
        # The provider reads cloud "openstack" from this clouds.yaml (GG_CLOUDS_YAML may live elsewhere).
        "OS_CLIENT_CONFIG_FILE": str(settings.clouds_yaml_path()),
    }


def _terraform(settings: Settings, *args: str, title: str = "", capture: bool = False) -> Step:
    return Step(
        argv=("terraform", f"-chdir={TF_DIR}", *args),
        env=terraform_env(settings),
        unset_env_prefixes=("OS_",),
        capture=capture,
        title=title,
    )


def provision_steps(settings: Settings, replace: str | None = None) -> list[Step]:
    """terraform init, validate, plan (saved), apply of that plan, output -json."""
    plan_args = ["plan", "-input=false", f"-out={TF_PLAN}"]
    if replace:
        if replace not in _tf_nodes():
            raise ValueError(f"unknown node {replace!r}: expected one of {', '.join(_tf_nodes())}")
        plan_args.append(f'-replace=openstack_compute_instance_v2.nodes["{replace}"]')
    return [
        _terraform(settings, "init", "-input=false", title="terraform init (provider plugins, state)"),
        _terraform(settings, "validate", title="terraform validate"),
        _terraform(settings, *plan_args, title="terraform plan"),
        _terraform(settings, "apply", "-input=false", TF_PLAN, title="terraform apply (the saved plan)"),
        terraform_output_step(settings),
    ]


def terraform_output_step(settings: Settings | None = None) -> Step:
    """`terraform output -json` (needs no variables)."""
    return Step(argv=("terraform", f"-chdir={TF_DIR}", "output", "-json"), unset_env_prefixes=("OS_",), capture=True)


def destroy_steps(settings: Settings) -> list[Step]:
    return [_terraform(settings, "destroy", "-auto-approve", "-input=false", title="terraform destroy")]


def _tf_nodes() -> tuple[str, ...]:
    from gourmetgram.cluster.inventory import DEFAULT_NODES

    return tuple(DEFAULT_NODES)


def openstack_env(settings: Settings) -> dict[str, str]:
    """The openstack CLI reads cloud `openstack` from our clouds.yaml."""
    env = {"OS_CLIENT_CONFIG_FILE": str(settings.clouds_yaml_path()), "OS_CLOUD": "openstack"}
    return env


def lease_name(settings: Settings) -> str:
    settings.require("suffix")
    return f"lease_mlops_{settings.suffix}"


def flavor_id_step(settings: Settings) -> Step:
    return Step(
        argv=("openstack", "flavor", "show", LEASE_FLAVOR, "-f", "value", "-c", "id"),
        env=openstack_env(settings),
        unset_env_prefixes=("OS_",),
        capture=True,
        title=f"flavor ID of {LEASE_FLAVOR}",
    )


def lease_create_step(settings: Settings, flavor_id: str, now: datetime) -> Step:
    """Blazar lease for 3 instances of m1.large, starting in 10 s, for 12 hours (times in UTC)."""
    start = (now + timedelta(seconds=10)).strftime("%Y-%m-%d %H:%M")
    end = (now + timedelta(hours=LEASE_HOURS)).strftime("%Y-%m-%d %H:%M")
    return Step(
        argv=(
            "openstack", "reservation", "lease", "create", lease_name(settings),
            "--start-date", start,
            "--end-date", end,
            "--reservation", f"resource_type=flavor:instance,flavor_id={flavor_id},amount={LEASE_NODES}",
        ),
        env=openstack_env(settings),
        unset_env_prefixes=("OS_",),
        title=f"lease {LEASE_NODES} x {LEASE_FLAVOR} for {LEASE_HOURS} h",
    )  # fmt: skip


def lease_show_step(settings: Settings) -> Step:
    return Step(
        argv=("openstack", "reservation", "lease", "show", lease_name(settings), "-f", "json", "-c", "reservations"),
        env=openstack_env(settings),
        unset_env_prefixes=("OS_",),
        capture=True,
        title="the lease's reserved flavor ID (GG_RESERVATION)",
    )


def reservation_from_lease_json(text: str) -> str:
    """flavor_id of the lease's first reservation (`openstack reservation lease show -f json -c reservations`)."""
    data = json.loads(text)
    reservations = data.get("reservations")
    if isinstance(reservations, str):  # some client versions return it as a JSON string
        reservations = json.loads(reservations)
    if not reservations or "flavor_id" not in reservations[0]:
        raise ValueError("the lease has no flavor reservation yet; run `invoke lease` again in a minute")
    return str(reservations[0]["flavor_id"])


# ---- Ansible ----------------------------------------------------------------------------------


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
        raise ValueError(f"unknown environment {env!r}: expected one of {', '.join(ARGOCD_PLAYBOOKS)}")
    extra: tuple[str, ...] = ()
    floating_ip = floating_ip or settings.floating_ip
    if env == names.PLATFORM and floating_ip:
        extra = ("-e", f"gg_floating_ip={floating_ip}")
    return [
        playbook_step(
            ARGOCD_PLAYBOOKS[env], *_repo_vars(settings), *extra, title=f"Argo CD application {names.app_name(env)}"
        )
    ]


def _revision(settings: Settings, branch: str | None) -> str:
    """The revision a workflow clones: --branch when given, else GG_REPO_REVISION (one source)."""
    settings.require("repo_url", "repo_revision")
    return branch or settings.repo_revision


def build_init_steps(settings: Settings, branch: str | None = None) -> list[Step]:
    branch = _revision(settings, branch)
    return [
        playbook_step(
            "argocd/workflow_build_init.yml", *_repo_vars(settings), "-e", f"gg_branch={branch}",
            title="initial app images (staging/canary/production-1.0.0)",
        )
    ]  # fmt: skip


def build_training_init_steps(settings: Settings, branch: str | None = None) -> list[Step]:
    branch = _revision(settings, branch)
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


# ---- ssh to node1 (Argo workflows, status, tunnels) ----------------------------------------------


def ssh_argv(settings: Settings, floating_ip: str, *options: str) -> tuple[str, ...]:
    return (
        "ssh", *options,
        "-i", settings.ssh_key_path(),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        f"{NODE_IMAGE_USER}@{floating_ip}",
    )  # fmt: skip


def remote_step(settings: Settings, floating_ip: str, remote: list[str], **kwargs) -> Step:
    """ssh node1 with ONE quoted remote command (the remote shell sees exactly `remote`)."""
    return Step(argv=(*ssh_argv(settings, floating_ip), shlex.join(remote)), **kwargs)


def declared_parameters(workflow_file: str) -> list[str]:
    """Parameter names a workflow (template) in workflows/ declares in spec.arguments."""
    path = WORKFLOWS_DIR / workflow_file
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} not found: the workflows are not in this checkout") from None
    return [p["name"] for p in doc.get("spec", {}).get("arguments", {}).get("parameters", [])]


def workflow_from_template(template: str, parameters: dict[str, str]) -> dict:
    """A Workflow that runs WorkflowTemplate `template` with these parameter values.

    Every parameter must be declared by workflows/<template>.yaml (a misspelt
    name would otherwise be ignored silently by Argo).
    """
    declared = declared_parameters(f"{template}.yaml")
    unknown = [p for p in parameters if p not in declared]
    if unknown:
        raise ValueError(f"workflows/{template}.yaml declares {', '.join(declared)}; not {', '.join(unknown)}")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-", "namespace": ARGO_NAMESPACE},
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]},
        },
    }


def submit_step(settings: Settings, floating_ip: str, workflow: dict, title: str) -> Step:
    """Create the Workflow on node1 (`kubectl create -f -`, the manifest on stdin)."""
    return remote_step(
        settings,
        floating_ip,
        ["kubectl", "create", "-n", ARGO_NAMESPACE, "-f", "-", "-o", "name"],
        stdin=json.dumps(workflow, indent=2) + "\n",
        capture=True,
        title=title,
    )


def train_steps(
    settings: Settings,
    floating_ip: str,
    branch: str | None = None,
    bad: bool = False,
    extra: dict[str, str] | None = None,
) -> list[Step]:
    """Submit train-model (repo-url, branch: GG_REPO_URL and --branch or GG_REPO_REVISION; bad-model;
    extra: e.g. train-args, gpus)."""
    branch = _revision(settings, branch)
    params = {"branch": branch, "repo-url": str(settings.repo_url), "bad-model": "true" if bad else "false"}
    params.update(extra or {})
    what = "the lab's bad model (state dict)" if bad else "a model"
    workflow = workflow_from_template("train-model", params)
    return [submit_step(settings, floating_ip, workflow, f"train {what} from branch {branch}")]


def promote_steps(settings: Settings, floating_ip: str, source: str, target: str, version: int | str) -> list[Step]:
    """Submit promote-model (source-environment, target-environment, model-version)."""
    names.check_promotion(source, target)
    tag = names.image_tag(target, version)  # validates the version
    params = {
        "source-environment": source,
        "target-environment": target,
        "model-version": str(int(version)),
        # The training image of the deployed revision runs check-promotion and the alias step.
        "train-image-tag": _train_image_tag(settings),
    }
    workflow = workflow_from_template("promote-model", params)
    return [submit_step(settings, floating_ip, workflow, f"promote {source} -> {target}: {tag}")]


def deployed_image_steps(settings: Settings, floating_ip: str) -> list[tuple[str, Step]]:
    """(env, step) reading each environment's Deployment image."""
    out = []
    for env in names.ENVIRONMENTS:
        remote = [
            "kubectl", "-n", names.namespace(env), "get", "deployment", names.APP_SERVICE,
            "-o", "jsonpath={.spec.template.spec.containers[0].image}",
        ]  # fmt: skip
        out.append((env, remote_step(settings, floating_ip, remote, capture=True, title=f"image of {env}")))
    return out


# ---- the lifecycle Target on the cluster (gourmetgram/cluster/target.py) ------------------------

ARGOCD_NAMESPACE = "argocd"
WORKFLOW_DONE_PHASES = ("Succeeded", "Failed", "Error")
# Shown in dry-runs where a real run would use a value read from the cluster.
VERSION_PLACEHOLDER = "<N>"


def created_placeholder(template: str) -> str:
    """What `kubectl create -o name` prints for a Workflow of `template` (dry-runs show this)."""
    return f"workflow.argoproj.io/{template}-<id>"


def _train_image_tag(settings: Settings) -> str:
    """The training image of GG_REPO_REVISION (build-training-init and train-model tag it by branch)."""
    settings.require("repo_revision")
    return branch_image_tag(settings.repo_revision)


def build_image_steps(
    settings: Settings, floating_ip: str, version: int | str, branch: str | None = None
) -> list[Step]:
    """Submit build-container-image with build-only=true: fetch the model, build and push staging-1.0.N."""
    tag = names.image_tag(names.STAGING, version)
    branch = _revision(settings, branch)
    params = {
        "model-version": str(int(version)),
        "branch": branch,
        "repo-url": str(settings.repo_url),
        "train-image-tag": _train_image_tag(settings),
        "build-only": "true",
    }
    workflow = workflow_from_template("build-container-image", params)
    return [submit_step(settings, floating_ip, workflow, f"build and push {tag} (branch {branch})")]


def deploy_image_steps(settings: Settings, floating_ip: str, env: str, version: int | str) -> list[Step]:
    """Submit deploy-container-image: Argo CD `app set gourmetgram-<env> --helm-set-string image.tag=<env>-1.0.N`,
    sync, wait. The workflow holds the one copy of those argocd commands (and the admin login they need)."""
    if version == VERSION_PLACEHOLDER:
        names.namespace(env)
        tag = f"{env}-{names.VERSION_MAJOR_MINOR}.{version}"
    else:
        tag = names.image_tag(env, version)
        version = str(int(version))
    workflow = workflow_from_template("deploy-container-image", {"environment": env, "model-version": str(version)})
    return [submit_step(settings, floating_ip, workflow, f"Argo CD {names.app_name(env)}: image.tag={tag}, sync")]


def workflow_deadline(template: str) -> int:
    """spec.activeDeadlineSeconds of workflows/<template>.yaml: Argo fails the Workflow after it."""
    doc = yaml.safe_load((WORKFLOWS_DIR / f"{template}.yaml").read_text())
    deadline = doc["spec"].get("activeDeadlineSeconds")
    if not isinstance(deadline, int) or deadline <= 0:
        raise ValueError(f"workflows/{template}.yaml sets no spec.activeDeadlineSeconds: a wait would have no end")
    return deadline


def workflow_phase_step(settings: Settings, floating_ip: str, created: str) -> Step:
    """The phase of a submitted Workflow (`created` as `kubectl create -o name` printed it)."""
    remote = ["kubectl", "-n", ARGO_NAMESPACE, "get", created, "-o", "jsonpath={.status.phase}"]
    return remote_step(settings, floating_ip, remote, capture=True, title=f"phase of {created}")


def copy_image_image() -> str:
    """The skopeo image promote-model's copy-image step runs (one pin, in the workflow)."""
    doc = yaml.safe_load((WORKFLOWS_DIR / "promote-model.yaml").read_text())
    for template in doc["spec"]["templates"]:
        if template["name"] == "copy-image":
            return template["script"]["image"]
    raise ValueError("workflows/promote-model.yaml has no copy-image template")


def copy_image_step(settings: Settings, floating_ip: str, source: str, target: str, version: int | str) -> Step:
    """skopeo copy <source>-1.0.N -> <target>-1.0.N in a one-off pod (promote-model's copy-image, same image)."""
    names.check_promotion(source, target)
    src, dst = names.image_ref(source, version), names.image_ref(target, version)
    pod = "copy-" + names.image_tag(target, version).replace(".", "-")
    remote = [
        "kubectl", "run", "-n", ARGO_NAMESPACE, pod, f"--image={copy_image_image()}",
        "--restart=Never", "--rm", "-i", "--quiet", "--pod-running-timeout=5m", "--command", "--",
        "skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{src}", f"docker://{dst}",
    ]  # fmt: skip
    return remote_step(settings, floating_ip, remote, title=f"copy image {src} -> {names.image_tag(target, version)}")


def argocd_app_step(settings: Settings, floating_ip: str, env: str) -> Step:
    """The Argo CD Application of env as JSON (the object `argocd app get -o json` prints; kubectl needs no login)."""
    remote = ["kubectl", "-n", ARGOCD_NAMESPACE, "get", "application", names.app_name(env), "-o", "json"]
    return remote_step(settings, floating_ip, remote, capture=True, title=f"Argo CD application {names.app_name(env)}")


def mlflow_url(floating_ip: str) -> str:
    return f"http://{floating_ip}:{values.mlflow_port()}"


def mlflow_credentials_step(settings: Settings, floating_ip: str) -> Step:
    """MLflow's basic-auth user, read on node1 (captured by invoke, never printed)."""
    secret = mlflow_auth.credentials_secret()
    remote = ["kubectl", "-n", names.namespace(names.PLATFORM), "get", "secret", secret, "-o", "json"]
    return remote_step(settings, floating_ip, remote, capture=True, title="MLflow's credentials (not printed)")


def mlflow_steps(floating_ip: str) -> list[Step]:
    """The registered model (aliases) and its versions, from MLflow's REST API (basic auth from a 0600 netrc)."""
    base = mlflow_url(floating_ip) + "/api/2.0/mlflow"
    model = quote(names.MODEL_NAME)
    search = quote(f"name='{names.MODEL_NAME}'")
    curl = ("curl", "-fsS", "--max-time", "20", "--netrc-file", str(mlflow_auth.NETRC_FILE))
    return [
        Step(argv=(*curl, f"{base}/registered-models/get?name={model}"),
             capture=True, title=f"aliases of {names.MODEL_NAME}"),
        Step(argv=(*curl, f"{base}/model-versions/search?filter={search}&max_results=200"),
             capture=True, title=f"versions of {names.MODEL_NAME}"),
    ]  # fmt: skip


def tunnel_step(settings: Settings, floating_ip: str, service: str) -> Step:
    """ssh -L <port> to node1 running the matching kubectl port-forward (the lab's two commands in one)."""
    if service not in TUNNELS:
        raise ValueError(f"unknown service {service!r}: expected one of {', '.join(TUNNELS)}")
    t = TUNNELS[service]
    forward = f"{t.local_port}:127.0.0.1:{t.local_port}"
    remote = ["kubectl", "port-forward", "-n", t.namespace, t.service, f"{t.local_port}:{t.service_port}"]
    # -t: a terminal on node1, so Ctrl-C here also ends the remote port-forward.
    return Step(
        argv=(*ssh_argv(settings, floating_ip, "-t", "-L", forward), shlex.join(remote)),
        title=f"{service}: open {t.url} ({t.login}); Ctrl-C ends the tunnel",
    )


def repo_path(path: str | Path) -> Path:
    return REPO_ROOT / path
