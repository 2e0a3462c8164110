"""invoke tasks of the cluster path (the lab on Chameleon), one per lab step.

Every task takes --dry-run: it prints the exact commands (openstack,
terraform, ansible-playbook, ssh + kubectl) without running them. Settings
come from the environment or settings.env (gourmetgram/cluster/settings.py).
The docstrings carry the lab step number, since `invoke --list` sorts by name.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from invoke import Collection, Exit

from gourmetgram import names
from gourmetgram.cluster import argo, cloud, food11, mlflow_auth, playbooks, ssh, workflow_defaults
from gourmetgram.cluster import preflight as pf
from gourmetgram.cluster.inventory import (
    DEFAULT_NODES,
    InventoryError,
    floating_ip_from_terraform_output,
    write_ansible_files,
)
from gourmetgram.cluster.runner import CommandFailed, Runner, format_elapsed
from gourmetgram.cluster.settings import Settings, SettingsError, load_settings
from gourmetgram.cluster.target import ClusterTarget
from gourmetgram.errors import BadAnswer, GourmetGramError, UsageError, as_usage_error
from gourmetgram.lifecycle import rules
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.steps import Lifecycle
from gourmetgram.tasks.boundary import task

DRY_RUN_HELP = "print the exact commands without running them"
NO_PREFLIGHT_HELP = "skip the preflight checks (`invoke preflight`) this step starts with"
PREFLIGHT_STAGES = ("cloud", "nodes", "all")
LEASE_SHOW_ATTEMPTS = 12
LEASE_SHOW_DELAY = 5  # seconds


def _settings(*required: str) -> Settings:
    return load_settings().require(*required)


def _check_clouds_yaml(settings: Settings, runner: Runner) -> None:
    """clouds.yaml must exist for a real run; a dry-run only notes its absence."""
    try:
        settings.require_clouds_yaml()
    except SettingsError as exc:
        if not runner.dry_run:
            raise
        runner.say(f"note: a real run would stop here: {exc}")


def _run_all(runner: Runner, steps) -> list[str | None]:
    return [runner.run(step) for step in steps]


def _require_ansible_files(runner: Runner) -> None:
    """The playbooks need the generated inventory.yml + ansible.cfg (a dry-run only notes their absence)."""
    ansible = playbooks.ANSIBLE_DIR
    missing = [p for p in (ansible / "inventory.yml", ansible / "ansible.cfg") if not p.is_file()]
    if not missing:
        return
    message = (
        f"{' and '.join(str(p) for p in missing)} not found: run `invoke provision` "
        "(or `invoke inventory --floating-ip IP`) first"
    )
    if not runner.dry_run:
        raise UsageError(message)
    runner.say(f"note: a real run would stop here: {message}")


def _run_playbooks(dry_run: bool, steps) -> None:
    runner = Runner(dry_run)
    _require_ansible_files(runner)
    _run_all(runner, steps)


def _floating_ip(settings: Settings, runner: Runner) -> str:
    """GG_FLOATING_IP, else Terraform's output floating_ip_out."""
    if settings.floating_ip:
        return settings.floating_ip
    out = _run_all(runner, [cloud.terraform_output_step(settings)])[0]
    if out is None:  # dry-run
        return ssh.FLOATING_IP_PLACEHOLDER
    return floating_ip_from_terraform_output(out)


# ---- preflight ---------------------------------------------------------------------------------


def _node_access(settings: Settings, probe: pf.Probe) -> pf.NodeAccess | None:
    """node1's floating IP from GG_FLOATING_IP or Terraform's output; None before `provision`."""
    ip = settings.floating_ip
    if not ip:
        out = probe.run(cloud.terraform_output_step(settings))
        if out is None:
            ip = ssh.FLOATING_IP_PLACEHOLDER
        elif out.ok:
            try:
                ip = floating_ip_from_terraform_output(out.stdout)
            except InventoryError:
                return None
        else:
            return None
    return pf.NodeAccess(floating_ip=ip, ssh_key=settings.ssh_key_path())


def _preflight_results(settings: Settings, stage: str, dry_run: bool, echo=print) -> list[pf.Result]:
    probe = pf.Probe(dry_run, echo)
    results: list[pf.Result] = []
    if stage in ("cloud", "all"):
        results += pf.run_checks("cloud (before `invoke provision`)", pf.cloud_checks(settings, probe), echo)
    if stage in ("nodes", "all"):
        access = _node_access(settings, probe)
        checks = [] if stage == "all" else [lambda: pf.check_settings(settings, pf.NODE_SETTINGS)]
        if access is None:
            skipped = pf.Result(
                "nodes", None if stage == "all" else False, "no floating IP yet", "run `invoke provision` first"
            )
            checks.append(lambda: skipped)
        else:
            checks += pf.node_checks(access, probe)
        results += pf.run_checks("nodes (after `invoke provision`)", checks, echo)
    return results


def _preflight(settings: Settings, stage: str, dry_run: bool, then: str | None = None) -> None:
    """Run the stage's checks; any FAILED ends the task (exit 1) before the long step starts."""
    results = _preflight_results(settings, stage, dry_run)
    print(pf.summary(results))
    if any(r.ok is False for r in results) and not dry_run:
        skip = f" (or skip them: invoke {then} --no-preflight)" if then else ""
        raise Exit("preflight FAILED: fix the lines marked FAILED, then run again" + skip, code=1)


@task(help={"dry_run": DRY_RUN_HELP, "stage": "cloud (before provision) | nodes (after provision) | all"})
def preflight(c, dry_run=False, stage="all"):
    """[0] Check settings, clouds.yaml, key pair + agent, lease, security groups; then nodes, disk, downloads."""
    if stage not in PREFLIGHT_STAGES:
        raise UsageError(f"unknown stage {stage!r}: expected one of {', '.join(PREFLIGHT_STAGES)}")
    _preflight(_settings(), stage, dry_run)


# ---- lab steps ---------------------------------------------------------------------------------


@task(help={"dry_run": DRY_RUN_HELP})
def lease(c, dry_run=False):
    """[1] Blazar lease for 3 x m1.large (12 h); prints the reservation (flavor) ID for GG_RESERVATION."""
    settings = _settings("suffix")
    runner = Runner(dry_run)
    runner.say(
        f"project {settings.project or '(GG_PROJECT unset)'} at {settings.site}: lease {cloud.lease_name(settings)}"
    )
    _check_clouds_yaml(settings, runner)
    flavor = _run_all(runner, [cloud.flavor_id_step(settings)])[0]
    flavor_id = flavor.strip() if flavor else f"<flavor id of {cloud.LEASE_FLAVOR}>"
    _run_all(runner, [cloud.lease_create_step(settings, flavor_id, datetime.now(timezone.utc))])
    shown = _run_all(runner, [cloud.lease_show_step(settings)])[0]
    if shown is None:
        runner.say(f"dry-run: the reservation ID would be printed here (lease {cloud.lease_name(settings)})")
        return
    # Blazar fills in the reserved flavor once the lease starts (seconds): look again a few times.
    for _attempt in range(LEASE_SHOW_ATTEMPTS):
        try:
            reservation = cloud.reservation_from_lease_json(shown)
            break
        except ValueError:
            time.sleep(LEASE_SHOW_DELAY)
            shown = _run_all(runner, [cloud.lease_show_step(settings)])[0]
    else:
        reservation = cloud.reservation_from_lease_json(shown)
    runner.say(f"\nlease {cloud.lease_name(settings)}: reservation (flavor ID) {reservation}")
    runner.say(f"next: set GG_RESERVATION={reservation} in settings.env, then `invoke provision`")


@task(
    help={
        "dry_run": DRY_RUN_HELP,
        "replace": "rebuild one broken node, e.g. node3 (terraform -replace)",
        "no_preflight": NO_PREFLIGHT_HELP,
    }
)
def provision(c, dry_run=False, replace=None, no_preflight=False):
    """[2] terraform init/validate/plan/apply of tf/kvm, then write ansible.cfg + inventory.yml from its output."""
    settings = _settings("suffix", "key", "reservation")
    runner = Runner(dry_run)
    if not no_preflight:
        _preflight(settings, "cloud", dry_run, then="provision")
    _check_clouds_yaml(settings, runner)
    started = time.monotonic()
    outputs = _run_all(runner, cloud.provision_steps(settings, replace))
    if dry_run:
        runner.say("would write ansible/inventory.yml and ansible/ansible.cfg for floating_ip_out")
        return
    floating_ip = floating_ip_from_terraform_output(outputs[-1])
    inventory, config = _write_inventory(settings, floating_ip)
    runner.say(
        f"\nprovisioned in {format_elapsed(time.monotonic() - started)}: floating IP {floating_ip}\n"
        f"wrote {inventory} and {config}\n"
        f"next: set GG_FLOATING_IP={floating_ip} in settings.env (optional), then `invoke hello`"
    )


def _write_inventory(settings: Settings, floating_ip: str):
    return write_ansible_files(floating_ip, DEFAULT_NODES, ssh_key=settings.ssh_key_path())


@task(help={"dry_run": DRY_RUN_HELP, "floating_ip": "node1's floating IP (default: GG_FLOATING_IP or Terraform's)"})
def inventory(c, dry_run=False, floating_ip=None):
    """[2b] (Re)write ansible.cfg + inventory.yml for a floating IP, without touching the cloud."""
    settings = _settings()
    runner = Runner(dry_run)
    ip = floating_ip or _floating_ip(settings, runner)
    if dry_run:
        runner.say(f"would write ansible/inventory.yml and ansible/ansible.cfg (jump host {ip})")
        return
    paths = _write_inventory(settings, ip)
    runner.say("wrote " + " and ".join(str(p) for p in paths))


@task(help={"dry_run": DRY_RUN_HELP})
def hello(c, dry_run=False):
    """[3] Ansible "Hello, world": hostname of every node through the jump host."""
    _run_playbooks(dry_run, playbooks.hello_steps())


@task(
    help={
        "dry_run": DRY_RUN_HELP,
        "from_stage": f"resume at this stage: {', '.join(playbooks.K8S_STAGES)}",
        "no_preflight": NO_PREFLIGHT_HELP,
    }
)
def k8s(c, dry_run=False, from_stage=None, no_preflight=False):
    """[4] Kubernetes: pre_k8s, Kubespray cluster.yml (up to an hour), post_k8s; progress + elapsed; --from-stage."""
    # GG_REGISTRY_MIRROR is optional; when set, it must be a URL.
    mirror = _settings().registry_mirror
    stages = playbooks.k8s_stages(_settings("registry_mirror").registry_mirror if mirror else None)
    names_ = [name for name, _ in stages]
    if from_stage is not None and from_stage not in names_:
        raise UsageError(f"unknown stage {from_stage!r}: expected one of {', '.join(names_)}")
    start_at = names_.index(from_stage) if from_stage else 0
    runner = Runner(dry_run)
    _require_ansible_files(runner)
    if not no_preflight:
        _preflight(_settings(), "nodes", dry_run, then="k8s")
    times: list[tuple[str, float]] = []
    total = time.monotonic()
    for number, (name, steps) in enumerate(stages, start=1):
        if number - 1 < start_at:
            runner.say(f"[k8s {number}/{len(stages)}] {name}: skipped (--from-stage {from_stage})")
            continue
        runner.say(
            f"[k8s {number}/{len(stages)}] {name}: "
            + ("" if dry_run else f"started {datetime.now(timezone.utc):%H:%M:%S} UTC")
        )
        began = time.monotonic()
        try:
            _run_all(runner, steps)
        except GourmetGramError:
            runner.say(f"[k8s] stage {name} failed; fix it, then: invoke k8s --from-stage {name}")
            raise
        times.append((name, time.monotonic() - began))
        if not dry_run:
            runner.say(f"[k8s {number}/{len(stages)}] {name}: done in {format_elapsed(times[-1][1])}")
    if not dry_run:
        runner.say("\nKubernetes ready in " + format_elapsed(time.monotonic() - total) + ":")
        for name, seconds in times:
            runner.say(f"  {name:<15} {format_elapsed(seconds)}")
        runner.say("next: `invoke tunnel --service dashboard`, then `invoke argocd.add --env platform`")


@task(help={"dry_run": DRY_RUN_HELP, "env": "platform | staging | canary | production"})
def argocd_add(c, env, dry_run=False):
    """[5, 8] Register an Argo CD application (platform first, then staging, canary, production)."""
    settings = _settings("repo_url", "repo_revision")
    # MLflow accepts node1's floating IP as Host: the platform needs it (GG_FLOATING_IP or Terraform's output).
    ip = _floating_ip(settings, Runner(dry_run)) if env == names.PLATFORM else None
    _run_playbooks(dry_run, playbooks.argocd_add_steps(settings, env, ip))


BRANCH_HELP = "branch or tag of GG_REPO_URL to {what} (default GG_REPO_REVISION)"


@task(help={"dry_run": DRY_RUN_HELP, "branch": BRANCH_HELP.format(what="build")})
def workflows_build_init(c, dry_run=False, branch=None):
    """[6] One-off workflow: the initial app images staging/canary/production-1.0.0."""
    settings = _settings("repo_url", "repo_revision")
    _run_playbooks(dry_run, playbooks.build_init_steps(settings, branch))


@task(help={"dry_run": DRY_RUN_HELP, "branch": BRANCH_HELP.format(what="build")})
def workflows_build_training_init(c, dry_run=False, branch=None):
    """[7] One-off workflow: the training image (label git.commit)."""
    settings = _settings("repo_url", "repo_revision")
    _run_playbooks(dry_run, playbooks.build_training_init_steps(settings, branch))


@task(help={"dry_run": DRY_RUN_HELP})
def workflows_apply(c, dry_run=False):
    """[9] Apply the WorkflowTemplates and cron-train with GG_REPO_URL / GG_REPO_REVISION as their defaults."""
    settings = _settings("repo_url", "repo_revision")
    runner = Runner(dry_run)
    if dry_run:
        runner.say(
            f"would render workflows/ with repo-url={settings.repo_url} branch={settings.repo_revision} "
            f"into {workflow_defaults.RENDERED_FILE}"
        )
    else:
        path = workflow_defaults.write_rendered(settings)
        runner.say(f"rendered {path}: repo-url={settings.repo_url} branch={settings.repo_revision}")
    _run_playbooks(dry_run, playbooks.templates_apply_steps(settings))


def _submit(runner: Runner, steps, next_hint: str) -> None:
    created = _run_all(runner, steps)[-1]
    if created:
        runner.say(f"\nsubmitted {created.strip()} in namespace {argo.ARGO_NAMESPACE}")
        runner.say(next_hint)


@task(
    help={
        "dry_run": DRY_RUN_HELP,
        "branch": BRANCH_HELP.format(what="train from"),
        "bad": "register the lab's bad model (state dict): staging must reject it",
        "synthetic": "train the CI-size demo net on synthetic data instead of Food-11 (the app then says so)",
        "emulate": "the lab's emulated training: GG_INIT_CHECKPOINT_URL (+ _SHA256), no epochs, same gate",
    }
)
def train(c, dry_run=False, branch=None, bad=False, synthetic=False, emulate=False):
    """[10] Submit train-model on Food-11 (GPU if the cluster has one, else the cpu preset): gate, register, ..."""
    settings = _settings(
        "repo_url", "repo_revision", *(("init_checkpoint_url", "init_checkpoint_sha256") if emulate else ())
    )
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    nodes = _run_all(runner, [food11.gpu_nodes_step(settings, ip)])[0]
    gpus = 0 if nodes is None else food11.gpu_count(nodes)
    checkpoint = (str(settings.init_checkpoint_url), str(settings.init_checkpoint_sha256)) if emulate else None
    # Real training fine-tunes the pinned ImageNet backbone (settings.PRETRAINED_SHA256 unless overridden).
    pretrained = None if (synthetic or emulate) else (settings.pretrained_url, settings.pretrained_sha256)
    args = food11.train_args(gpus, synthetic, checkpoint, pretrained)
    where = "synthetic data" if synthetic else f"Food-11 ({food11.DATA_DIR} on volume {food11.PVC_NAME})"
    device = "dry-run: GPU if a node has one, else CPU" if nodes is None else (f"{gpus} GPU(s)" if gpus else "CPU")
    runner.say(f"training on {where}, {device}: train-args {args}")
    # The workflow mounts the claim: it must exist even for synthetic data (empty then).
    _run_all(runner, [food11.pvc_step(settings, ip)])
    extra = {"train-args": args, "gpus": "1" if gpus and not synthetic else "0"}
    steps = argo.train_steps(settings, ip, branch, bad, extra)
    _submit(runner, steps, "watch it: `invoke tunnel --service workflows`; then `invoke status`")


@task(
    help={
        "dry_run": DRY_RUN_HELP,
        "branch": "training image (its branch tag) that runs the loader (default GG_REPO_REVISION)",
    }
)
def data_food11(c, dry_run=False, branch=None):
    """[9b] Load Food-11 (GG_FOOD11_URL, sha256-checked) into the cluster volume the training reads."""
    settings = _settings("food11_url", "food11_sha256", "repo_revision")
    branch = branch or settings.repo_revision
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    started = time.monotonic()
    nodes = _run_all(runner, [food11.gpu_nodes_step(settings, ip)])[0]
    on_gpu_node = nodes is not None and food11.gpu_count(nodes) > 0
    _run_all(runner, food11.load_steps(settings, ip, branch, on_gpu_node))
    if not dry_run:
        runner.say(
            f"\nFood-11 loaded into volume {food11.PVC_NAME} ({food11.DATA_DIR}) in "
            f"{format_elapsed(time.monotonic() - started)}\nnext: `invoke train`"
        )


@task(
    name="promote",
    help={
        "dry_run": DRY_RUN_HELP,
        "from": "source environment (canary)",
        "to": "target environment (production)",
        "version": "model version N (not 1.0.N)",
    },
)
def promote(c, version, dry_run=False, from_=names.CANARY, to=names.PRODUCTION):
    """[11] Submit promote-model: copy <from>-1.0.N to <to>-1.0.N, deploy it, set the alias."""
    # The user's words parsed here, before any command: a version N and a path names.PROMOTIONS allows.
    n = as_usage_error(names.version_number, version)
    as_usage_error(names.check_promotion, from_, to)
    settings = _settings()
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    target = ClusterTarget(settings, runner, ip)
    # The same rule as the local platform: approved in MLflow, and served by the source right now.
    source_version = target.deployed_version(from_)
    if dry_run:
        runner.say(
            f"a real run stops here unless version {n} is {names.ALIAS_STAGING_APPROVED} in MLflow "
            f"({ssh.mlflow_url(ip)}) and {names.app_name(from_)} runs {names.image_tag(from_, n)}"
        )
    else:
        _mlflow_login(settings, runner, ip)
        approved = _registry(ip).is_approved(n)
        # The one rule check, the same function as the local platform's Lifecycle.promote.
        refusal = rules.promotion_refusal(from_, to, n, approved, source_version)
        if refusal:
            raise rules.RuleError(refusal)
    steps = argo.promote_steps(settings, ip, from_, to, n)
    _submit(runner, steps, "then `invoke status` shows the new tag and alias")


def _mlflow_login(settings: Settings, runner: Runner, floating_ip: str) -> None:
    """Read MLflow's basic-auth user on node1 and hand it to this process's MLflow client and curl (not printed)."""
    out = runner.run(ssh.mlflow_credentials_step(settings, floating_ip))
    if out is None:  # dry-run
        return
    username, password = mlflow_auth.credentials_from_secret_json(out)
    mlflow_auth.use_credentials(username, password)
    mlflow_auth.write_netrc(floating_ip, username, password)


def _registry(floating_ip: str) -> Registry:
    """The cluster's MLflow model registry (the platform's MLflow on node1's floating IP)."""
    return Registry(ssh.mlflow_url(floating_ip))


@task(help={"dry_run": DRY_RUN_HELP, "env": "staging | canary | production"})
def rollback(c, env, dry_run=False):
    """[11b] Put back env's previous known-good version (from its Argo CD history); deploy it, move the alias."""
    env = as_usage_error(names.check_env, env)  # before any command
    settings = _settings()
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    target = ClusterTarget(settings, runner, ip)
    if dry_run:
        target.history(env)  # prints the read; the choice needs its answer and MLflow's approvals
        runner.say(
            f"a real run picks the newest earlier version in that history that passed the staging test "
            f"(approval in MLflow, {ssh.mlflow_url(ip)}), shown here as {argo.VERSION_PLACEHOLDER}, and deploys it:"
        )
        target.deploy(env, argo.VERSION_PLACEHOLDER)  # dry-run: prints the submit and the poll
        runner.say(f"then sets alias {env} -> {argo.VERSION_PLACEHOLDER} in MLflow")
        return
    _mlflow_login(settings, runner, ip)
    lifecycle = Lifecycle(target, _registry(ip), say=runner.say)
    chosen = lifecycle.rollback(env)
    runner.say(f"\n{env} serves {names.version_string(chosen)} again at {target.url(env)}")


@task(help={"dry_run": DRY_RUN_HELP})
def status(c, dry_run=False):
    """[12] Model versions and aliases in MLflow, and the image tag each environment runs."""
    settings = _settings()
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    images = {}
    for env, step in ssh.deployed_image_steps(settings, ip):
        try:  # an environment not added yet is not an error here
            images[env] = runner.run(step)
        except CommandFailed:
            images[env] = None
    answers = None
    try:
        _mlflow_login(settings, runner, ip)
        answers = [runner.run(step) for step in ssh.mlflow_steps(ip)]
    except CommandFailed as exc:
        registry = f"  MLflow did not answer ({exc}); is the platform added and synced?"
    except ValueError as exc:
        registry = f"  {exc}"
    if dry_run:
        return
    if answers is not None:  # MLflow answered: an answer that is not its JSON ends the task (BadAnswer)
        registry = _summarise_registry(*answers)
    runner.say(f"\nMLflow {ssh.mlflow_url(ip)}  model {names.MODEL_NAME}")
    runner.say(registry)
    runner.say("environments:")
    for env in names.ENVIRONMENTS:
        image = (images.get(env) or "").strip() or "(not deployed)"
        runner.say(f"  {env:<11} {image}")


def _summarise_registry(model_json: str, versions_json: str) -> str:
    try:
        model = json.loads(model_json).get("registered_model", {})
        versions = json.loads(versions_json).get("model_versions", [])
    except json.JSONDecodeError:
        raise BadAnswer(
            "MLflow did not answer JSON; is the platform synced? (`invoke argocd.add --env platform`)"
        ) from None
    aliases: dict[str, list[str]] = {}
    for a in model.get("aliases", []):
        aliases.setdefault(str(a["version"]), []).append(a["alias"])
    lines = []
    for v in sorted(versions, key=lambda v: int(v["version"])):
        n = v["version"]
        tags = ", ".join(sorted(aliases.get(str(n), []), key=names.ALIASES.index)) or "-"
        lines.append(f"  version {n:>3} ({names.version_string(n)})  {v.get('status', '')}  aliases: {tags}")
    return "\n".join(lines) or "  no versions registered yet (`invoke train`)"


@task(help={"dry_run": DRY_RUN_HELP, "service": "dashboard | argocd | workflows"})
def tunnel(c, service, dry_run=False):
    """[4b] ssh -L port forward + kubectl port-forward to a dashboard (runs until Ctrl-C)."""
    settings = _settings()
    runner = Runner(dry_run)
    ip = _floating_ip(settings, runner)
    step = ssh.tunnel_step(settings, ip, service)
    try:
        runner.run(step)
    except KeyboardInterrupt:
        runner.say("tunnel closed")


@task(help={"dry_run": DRY_RUN_HELP})
def destroy(c, dry_run=False):
    """[13] terraform destroy: delete every resource of tf/kvm (the lease stays until it ends)."""
    settings = _settings("suffix", "key", "reservation")
    runner = Runner(dry_run)
    _check_clouds_yaml(settings, runner)
    _run_all(runner, cloud.destroy_steps(settings))


def register(ns: Collection) -> None:
    """Add the cluster tasks: top-level lab steps plus the argocd and workflows collections."""
    for t in (preflight, lease, provision, inventory, hello, k8s, train, promote, rollback, status, tunnel, destroy):
        ns.add_task(t)
    argocd = Collection("argocd")
    argocd.__doc__ = "Argo CD applications of the lab (argocd_add_*.yml)."
    argocd.add_task(argocd_add, name="add")
    ns.add_collection(argocd)
    workflows = Collection("workflows")
    workflows.__doc__ = "Argo Workflows of the lab: one-off image builds and the lifecycle templates."
    workflows.add_task(workflows_build_init, name="build-init")
    workflows.add_task(workflows_build_training_init, name="build-training-init")
    workflows.add_task(workflows_apply, name="apply")
    ns.add_collection(workflows)
    data = Collection("data")
    data.__doc__ = "Training data on the cluster."
    data.add_task(data_food11, name="food11")
    ns.add_collection(data)
