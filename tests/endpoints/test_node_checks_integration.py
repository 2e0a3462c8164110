"""testinfra node checks against the target's nodes (the lab nodes, or the cluster's VMs).

The same check functions as tests/nodes (gourmetgram/nodes/checks.py). The
Kubernetes checks are marked `cluster`: the integration session runs them only
with GG_TARGET=cluster (for the local target they are deselected and counted
as such in pytest's summary, never silently skipped)."""

from __future__ import annotations

import pytest

from gourmetgram.nodes import checks

NODE_NAMES = ("node1", "node2", "node3")
KUBECTL_NODES = ("node1", "node2")  # post_k8s gives cc a kubeconfig on the control-plane nodes


@pytest.mark.parametrize("check", checks.NODE_CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("node", NODE_NAMES)
def test_node(nodes, node, check):
    check(nodes.hosts[node])


@pytest.mark.parametrize("node", NODE_NAMES)
def test_ipv6_disabled_on_the_public_interface(nodes, node):
    checks.ipv6_disabled(nodes.hosts[node], nodes.public_interface[node])


@pytest.mark.cluster
@pytest.mark.parametrize("node", KUBECTL_NODES)
def test_kubectl_works_for_cc(nodes, node):
    checks.kubectl_works_for_cc(nodes.hosts[node])


@pytest.mark.cluster
def test_kubernetes_nodes_ready(nodes):
    checks.nodes_ready(nodes.hosts["node1"], expected=len(NODE_NAMES))


@pytest.mark.cluster
def test_argo_namespaces_exist(nodes):
    checks.namespaces_exist(nodes.hosts["node1"])


@pytest.mark.cluster
def test_argocd_apps_healthy(nodes):
    checks.argocd_apps_healthy(nodes.hosts["node1"])
