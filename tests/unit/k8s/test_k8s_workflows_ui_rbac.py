"""The Argo Workflows UI login (argo-server in client auth mode): the platform chart's read-only account."""

from __future__ import annotations

from gourmetgram import names, values

WORKFLOWS = values.chart_values(names.PLATFORM)["workflows"]


def _objects(rendered, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in rendered[names.PLATFORM] if d["kind"] == kind}


def test_ui_account_is_bound_to_a_read_only_role_in_the_argo_namespace(rendered):
    ui = WORKFLOWS["uiServiceAccount"]
    account = _objects(rendered, "ServiceAccount")[ui]
    assert account["metadata"]["namespace"] == WORKFLOWS["namespace"]
    assert account["automountServiceAccountToken"] is False  # only the tokens people ask for
    binding = _objects(rendered, "RoleBinding")[ui]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ui}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ui, "namespace": WORKFLOWS["namespace"]}]
    role = _objects(rendered, "Role")[ui]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert verbs == {"get", "list", "watch"}
    assert {"workflows", "pods/log", "workflowtemplates", "cronworkflows"} <= resources
    assert not resources & {"secrets", "pods/exec", "*"}


def test_ui_account_is_not_the_workflows_account():
    assert WORKFLOWS["uiServiceAccount"] != WORKFLOWS["serviceAccount"]
