"""Terraform (tf/kvm) and OpenStack (Blazar lease) commands of the lab, as pure functions of the settings.

Tasks (gourmetgram/tasks/cluster.py) run these through the Runner; tests assert them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import BadAnswer, UsageError

TF_DIR = "tf/kvm"
TF_PLAN = "tfplan"
LEASE_FLAVOR = "m1.large"
LEASE_NODES = 3
LEASE_HOURS = 12


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
            raise UsageError(f"unknown node {replace!r}: expected one of {', '.join(_tf_nodes())}")
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
        raise BadAnswer("the lease has no flavor reservation yet; run `invoke lease` again in a minute")
    return str(reservations[0]["flavor_id"])
