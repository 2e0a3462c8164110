"""Terraform (tf/kvm): terraform fmt, and the lab's topology checked on the HCL parsed by python-hcl2."""

from __future__ import annotations

import iac_tools as t
import pytest

from gourmetgram import names, values

TF = t.REPO / "tf" / "kvm"


def test_terraform_fmt_clean():
    assert t.terraform_fmt(t.REPO / "tf") == []


def test_every_file_of_the_reference_layout_exists():
    want = {"data.tf", "main.tf", "outputs.tf", "provider.tf", "variables.tf", "versions.tf"}
    assert want <= {p.name for p in TF.glob("*.tf")}


def test_three_nodes_with_private_and_sharednet1_ports_and_the_floating_ip_on_node1():
    assert t.terraform_structure_findings(TF) == []


def test_variables_declared_and_used():
    assert t.terraform_variable_findings(TF) == []


def exposed_service_ports(rendered: dict[str, list[dict]]) -> set[int]:
    """Ports of Services reachable from outside the cluster (externalIPs, NodePort or LoadBalancer)."""
    ports = set()
    for docs in rendered.values():
        for d in docs:
            spec = d.get("spec") or {}
            if d["kind"] == "Service" and (spec.get("externalIPs") or spec.get("type") in ("NodePort", "LoadBalancer")):
                ports.update(int(p["port"]) for p in spec.get("ports", []))
    return ports


def test_the_lab_ports_are_exposed_by_the_charts(rendered):
    # gateway 80, MLflow 8000, MinIO console 9001, production/canary/staging 8080/8081/8082
    platform = values.chart_values(names.PLATFORM)
    want = {values.gateway_port(), values.mlflow_port(), int(platform["minio"]["consolePort"])}
    want |= {values.env_port(env) for env in names.ENVIRONMENTS}
    assert want <= exposed_service_ports(rendered)


def test_every_exposed_service_port_has_a_security_group(rendered):
    exposed = exposed_service_ports(rendered)
    assert exposed, "no Service is exposed outside the cluster"
    assert t.secgroup_findings(TF, exposed) == []


@pytest.mark.parametrize("port", [22, 80, 8000, 8080, 8081, 8082, 9001])
def test_security_groups_are_found_by_port(port):
    assert all(port in opened for opened in t.secgroup_ports(TF).values())
