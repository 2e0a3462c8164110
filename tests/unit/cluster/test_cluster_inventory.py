"""Terraform output -> inventory.yml / ansible.cfg, read back by YAML and by Ansible itself."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gourmetgram.cluster.inventory import (
    ANSIBLE_DIR,
    DEFAULT_NODES,
    InventoryError,
    floating_ip_from_terraform_output,
    render_ansible_cfg,
    render_examples,
    render_inventory,
    write_ansible_files,
)

TF_OUTPUT = json.dumps({"floating_ip_out": {"sensitive": False, "type": "string", "value": "129.114.27.10"}})


def _proxy_command(inventory_text: str) -> list[str]:
    args = shlex.split(yaml.safe_load(inventory_text)["all"]["vars"]["ansible_ssh_common_args"])
    assert args[0] == "-o" and args[1].startswith("ProxyCommand=")
    return shlex.split(args[1].removeprefix("ProxyCommand="))


def test_terraform_output_gives_the_floating_ip():
    assert floating_ip_from_terraform_output(TF_OUTPUT) == "129.114.27.10"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{}", "no 'floating_ip_out'"),
        ("not json", "not JSON"),
        (json.dumps({"floating_ip_out": {"value": "A.B.C.E"}}), "not an IPv4 address"),
    ],
)
def test_bad_terraform_output_is_a_clear_error(text, message):
    with pytest.raises(InventoryError, match=message):
        floating_ip_from_terraform_output(text)


def test_inventory_has_the_three_nodes_behind_the_jump_host():
    doc = yaml.safe_load(render_inventory("129.114.27.10", DEFAULT_NODES))
    hosts = doc["all"]["hosts"]
    assert {name: h["ansible_host"] for name, h in hosts.items()} == {
        "node1": "192.168.1.11",
        "node2": "192.168.1.12",
        "node3": "192.168.1.13",
    }
    assert doc["all"]["vars"]["ansible_user"] == "cc"
    assert doc["all"]["vars"]["ansible_python_interpreter"] == "/usr/bin/python3"
    proxy = _proxy_command(render_inventory("129.114.27.10", DEFAULT_NODES))
    assert proxy[:3] == ["ssh", "-W", "%h:%p"]
    assert proxy[-1] == "cc@129.114.27.10"
    assert "StrictHostKeyChecking=no" in proxy


def test_inventory_options_for_local_nodes():
    text = render_inventory(
        "127.0.0.1",
        {"node1": "10.89.0.11", "node2": "10.89.0.12"},
        user="cc",
        ssh_key="/tmp/k/id_ed25519",
        port=2022,
        jump_port=2222,
        extra_ssh_args=["-o", "IdentitiesOnly=yes"],
    )
    doc = yaml.safe_load(text)
    v = doc["all"]["vars"]
    assert v["ansible_port"] == 2022
    assert v["ansible_ssh_private_key_file"] == "/tmp/k/id_ed25519"
    assert shlex.split(v["ansible_ssh_common_args"])[2:] == ["-o", "IdentitiesOnly=yes"]
    proxy = _proxy_command(text)
    assert proxy[proxy.index("-p") + 1] == "2222"
    assert proxy[proxy.index("-i") + 1] == "/tmp/k/id_ed25519"
    assert proxy[-3:] == ["-o", "IdentitiesOnly=yes", "cc@127.0.0.1"]
    assert sorted(doc["all"]["hosts"]) == ["node1", "node2"]


def test_no_jump_host_means_no_proxy_command():
    doc = yaml.safe_load(render_inventory(None, DEFAULT_NODES))
    assert "ansible_ssh_common_args" not in doc["all"]["vars"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"floating_ip": "1.2.3"}, "floating IP"),
        ({"nodes": {"node1": "192.168.1.300"}}, "address of node1"),
        ({"nodes": {}}, "no nodes"),
        ({"port": 0}, "port"),
        ({"jump_port": 70000}, "jump_port"),
    ],
)
def test_bad_inventory_options_are_rejected(kwargs, message):
    args = {"floating_ip": "129.114.27.10", "nodes": DEFAULT_NODES, **kwargs}
    with pytest.raises(InventoryError, match=message):
        render_inventory(args.pop("floating_ip"), args.pop("nodes"), **args)


def test_ansible_cfg_settings():
    cfg = configparser.ConfigParser()
    cfg.read_string(render_ansible_cfg("/abs/inventory.yml"))
    assert cfg["defaults"]["inventory"] == "/abs/inventory.yml"
    assert cfg["defaults"]["host_key_checking"] == "False"
    assert cfg["ssh_connection"]["pipelining"] == "True"
    ssh_args = shlex.split(cfg["ssh_connection"]["ssh_args"])
    for opt in ("ControlMaster=auto", "ControlPersist=60s", "ForwardAgent=yes", "UserKnownHostsFile=/dev/null"):
        assert opt in ssh_args


def test_write_ansible_files_and_ansible_reads_them(tmp_path):
    inventory, config = write_ansible_files("129.114.27.10", DEFAULT_NODES, tmp_path / "ansible", ssh_key="/k/id")
    assert config.read_text().count(str(inventory.resolve())) == 1
    # The real parser: ansible-inventory with the generated ansible.cfg (its default inventory).
    env = {**os.environ, "ANSIBLE_CONFIG": str(config)}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "--list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = json.loads(out)
    assert sorted(listed["all"]["children"]) == ["ungrouped"]
    hostvars = listed["_meta"]["hostvars"]
    assert hostvars["node3"]["ansible_host"] == "192.168.1.13"
    assert "cc@129.114.27.10" in hostvars["node1"]["ansible_ssh_common_args"]
    assert hostvars["node2"]["ansible_ssh_private_key_file"] == "/k/id"


def test_committed_examples_are_what_the_code_renders():
    for name, text in render_examples().items():
        stale = f"ansible/{name} is stale: python -m gourmetgram.cluster.inventory"
        assert (ANSIBLE_DIR / name).read_text() == text, stale


def test_kubespray_hosts_match_the_terraform_nodes():
    import hcl2

    hosts = yaml.safe_load((ANSIBLE_DIR / "k8s/inventory/mycluster/hosts.yaml").read_text())["all"]
    with open(ANSIBLE_DIR.parent / "tf/kvm/variables.tf") as fh:
        tf_vars = {k: v for block in hcl2.load(fh)["variable"] for k, v in block.items()}
    tf_nodes = tf_vars["nodes"]["default"]
    assert {n: h["ip"] for n, h in hosts["hosts"].items()} == tf_nodes == DEFAULT_NODES
    assert sorted(hosts["children"]["kube_control_plane"]["hosts"]) == ["node1", "node2"]
    assert sorted(hosts["children"]["etcd"]["hosts"]) == ["node1", "node2", "node3"]
