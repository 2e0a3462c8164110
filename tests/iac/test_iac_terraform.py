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


def _hcl_blocks(path, kind: str, type_: str) -> dict:
    import hcl2

    with path.open() as f:
        parsed = hcl2.load(f)
    return {name: body for block in parsed.get(kind, []) for name, body in block.get(type_, {}).items()}


def test_a_republished_image_does_not_replace_existing_nodes():
    """image_id forces replacement; taken from a data source that follows the newest image, it must be
    ignored on existing instances (or the image pinned by name), else every apply rebuilds all nodes."""
    (nodes,) = _hcl_blocks(TF / "main.tf", "resource", "openstack_compute_instance_v2").values()
    image = _hcl_blocks(TF / "data.tf", "data", "openstack_images_image_v2")
    ignored = {
        attr.removeprefix("${").removesuffix("}")
        for lifecycle in nodes.get("lifecycle", [])
        for attr in lifecycle.get("ignore_changes", [])
    }
    if "image_id" in nodes:
        assert "data.openstack_images_image_v2" in nodes["image_id"]
        (ubuntu,) = image.values()
        assert ubuntu["name"] == "CC-Ubuntu24.04"
        assert "image_id" in ignored, "a new CC-Ubuntu24.04 would plan to replace every node"
    else:
        assert nodes["image_name"] == "CC-Ubuntu24.04"
