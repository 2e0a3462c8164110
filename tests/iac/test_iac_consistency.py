"""One source of truth, checked: namespaces, service names, ports, image repository and tags, model
name and aliases agree between the charts, playbooks, workflows, the local platform and
gourmetgram/names.py + gourmetgram/values.py."""

from __future__ import annotations

import re

import iac_tools as t
import pytest

from gourmetgram import names, values

INFRA_TEXT_FILES = [
    p
    for p in t.repo_files()
    if t.rel(p).startswith(("ansible/", "workflows/", "k8s/")) and p.suffix in (".yml", ".yaml", ".tpl", ".json")
]
APP_IMAGE_REPO = f"{names.REGISTRY}/{names.APP_IMAGE}"


def _objects(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_app_chart_matches_names_and_values(env, rendered):
    docs = rendered[env]
    service = _objects(docs, "Service")[names.APP_SERVICE]
    deployment = _objects(docs, "Deployment")[names.APP_SERVICE]
    assert service["metadata"]["namespace"] == deployment["metadata"]["namespace"] == names.namespace(env)
    assert [p["port"] for p in service["spec"]["ports"]] == [values.env_port(env)]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [values.container_port()]
    repo, tag = container["image"].rsplit(":", 1)
    assert repo == APP_IMAGE_REPO
    assert names.parse_image_tag(tag)[0] == env


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_default_image_tag_is_the_initial_build(env):
    image = values.chart_values(env)["image"]
    assert image["repository"] == APP_IMAGE_REPO
    assert image["tag"] == names.image_tag(env, 0)


def test_gateway_route_matches_the_values_weights_and_env_services(rendered):
    docs = rendered[names.PLATFORM]
    (route,) = [d for d in docs if d["kind"] == "HTTPRoute"]
    refs = [ref for rule in route["spec"]["rules"] for ref in rule.get("backendRefs", [])]
    got = sorted((r["name"], r.get("namespace"), r["port"], r["weight"]) for r in refs)
    want = sorted(
        (names.APP_SERVICE, names.namespace(b.environment), b.port, b.weight) for b in values.route_backends()
    )
    assert got == want
    assert route["metadata"]["namespace"] == names.namespace(names.PLATFORM)


def test_reference_grants_let_the_route_reach_canary_and_production(rendered):
    for env in {b.environment for b in values.route_backends()}:
        grants = [d for d in rendered[env] if d["kind"] == "ReferenceGrant"]
        assert grants, f"{env}: no ReferenceGrant for the platform's HTTPRoute"
        spec = grants[0]["spec"]
        assert spec["from"][0]["namespace"] == names.namespace(names.PLATFORM)
        assert spec["to"][0]["name"] == names.APP_SERVICE


def test_platform_service_ports_match_values(rendered):
    ports = {p["port"] for d in rendered[names.PLATFORM] if d["kind"] == "Service" for p in d["spec"].get("ports", [])}
    platform = values.chart_values(names.PLATFORM)
    assert {values.gateway_port(), values.mlflow_port(), platform["minio"]["consolePort"]} <= ports


NAMESPACE_USE = re.compile(
    r"(?:\bnamespace:\s*|\s-n\s+|--namespace[= ]|--dest-namespace[= ]|\bdest_namespace:\s*)['\"]?(gourmetgram-[\w-]+)"
    r"|[\w-]+\.(gourmetgram-[\w-]+)\.svc\b"
)
SERVICE_URL = re.compile(r"\b([a-z0-9-]+)\.(gourmetgram-[a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)")


def namespace_findings(where: str, text: str) -> list[str]:
    valid = {names.namespace(e) for e in (*names.ENVIRONMENTS, names.PLATFORM)}
    used = {a or b for a, b in NAMESPACE_USE.findall(text)}
    return [f"{where}: namespace {ns!r} is not one of names.py's {sorted(valid)}" for ns in sorted(used - valid)]


def service_url_findings(where: str, text: str, rendered: dict[str, list[dict]]) -> list[str]:
    """<service>.<namespace>.svc[.cluster.local]:<port> names a Service the charts render, on a port it has."""
    by_namespace = {names.namespace(env): docs for env, docs in rendered.items()}
    findings = []
    for service, namespace, port in SERVICE_URL.findall(text):
        services = {d["metadata"]["name"]: d for d in by_namespace.get(namespace, []) if d["kind"] == "Service"}
        if service not in services:
            findings.append(f"{where}: {service}.{namespace}: no such Service in the charts")
        elif int(port) not in {p["port"] for p in services[service]["spec"]["ports"]}:
            findings.append(f"{where}: {service}.{namespace}:{port}: the Service has no port {port}")
    return findings


@pytest.mark.parametrize("path", INFRA_TEXT_FILES, ids=[t.rel(p) for p in INFRA_TEXT_FILES])
def test_namespaces_are_the_named_ones(path):
    assert namespace_findings(t.rel(path), path.read_text()) == []


def test_service_urls_name_rendered_services_and_ports(rendered):
    urls_seen = 0
    findings = []
    for path in [*INFRA_TEXT_FILES, *PYTHON_FOR_URLS]:
        text = path.read_text()
        urls_seen += len(SERVICE_URL.findall(text))
        findings += service_url_findings(t.rel(path), text, rendered)
    assert urls_seen, "no in-cluster service URL found in the workflows/playbooks"
    assert findings == []


def test_planted_wrong_namespace_and_service_url_are_caught(rendered):
    assert namespace_findings("x", "namespace: gourmetgram-prod\n")
    assert namespace_findings("x", "url: http://mlflow.gourmetgram-platfrom.svc:8000\n")
    good = "http://mlflow.gourmetgram-platform.svc.cluster.local:8000"
    assert service_url_findings("x", good, rendered) == []
    assert service_url_findings("x", good.replace(":8000", ":5000"), rendered)
    assert service_url_findings("x", good.replace("mlflow.", "mlfow."), rendered)


@pytest.mark.parametrize("path", INFRA_TEXT_FILES, ids=[t.rel(p) for p in INFRA_TEXT_FILES])
def test_model_name_aliases_and_image_repository_are_the_named_ones(path):
    text = path.read_text()
    wrong = []
    for m in re.findall(r"GourmetGram\w*Model\w*", text):
        if m != names.MODEL_NAME:
            wrong.append(f"model name {m!r} (names.MODEL_NAME is {names.MODEL_NAME!r})")
    for m in re.findall(r"--alias[= ]['\"]?([\w-]+)", text):
        if m not in names.ALIASES:
            wrong.append(f"alias {m!r} not in names.ALIASES")
    for m in re.findall(r"([\w.-]+(?::\d+)?)/(gourmetgram-[\w-]+):", text):
        registry, image = m
        if image in (names.APP_IMAGE, names.TRAINING_IMAGE) and registry != names.REGISTRY:
            wrong.append(f"image {registry}/{image} not from {names.REGISTRY}")
    assert not wrong, f"{t.rel(path)}: {wrong}"


@pytest.mark.parametrize("env", [*names.ENVIRONMENTS, names.PLATFORM])
def test_argocd_playbook_names_the_app_namespace_and_chart_path(env):
    import iac_values as v

    text = v.argocd_playbook(env).read_text()
    shared = [(t.REPO / "ansible" / "argocd" / inc) for inc in re.findall(r"([\w./-]+\.ya?ml)", text)]
    text += "".join(p.read_text() for p in shared if p.exists())
    # A thin entry point passes the environment; the shared play derives the names from it.
    assert env in text or f"k8s/{env}" in text
    assert "gourmetgram-" in text and "k8s/" in text


PYTHON_FOR_URLS = [p for p in t.repo_files() if p.suffix == ".py" and t.rel(p).startswith("gourmetgram/")]
PYTHON_SOURCES = [
    p
    for p in t.repo_files()
    if p.suffix == ".py"
    and t.rel(p).startswith(("gourmetgram/", "app/", "train/", "bench/"))
    and p.name not in ("names.py", "values.py")
]


def _code_constants(path):
    """(line, value) of every constant in the code of a Python file, docstrings left out."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings]


def test_python_code_takes_names_and_ports_from_names_py_and_values_py():
    """The local platform, the lifecycle, the app and training use names.py/values.py, never their own copies."""
    words = {names.MODEL_NAME, names.EXPERIMENT, names.REGISTRY, names.TRAINING_IMAGE, *names.ALIASES}
    words |= {names.namespace(e) for e in (*names.ENVIRONMENTS, names.PLATFORM)}
    platform = values.chart_values(names.PLATFORM)
    ports = {values.env_port(e) for e in names.ENVIRONMENTS} | {platform["minio"]["consolePort"]}
    repeats = [
        f"{t.rel(p)}:{line}: {value!r}"
        for p in PYTHON_SOURCES
        for line, value in _code_constants(p)
        if (isinstance(value, str) and value in words)
        or (isinstance(value, int) and not isinstance(value, bool) and value in ports)
    ]
    assert not repeats, "use gourmetgram.names / gourmetgram.values instead of these literals"


def _fill(arg: str) -> str:
    """Argo placeholders -> example values the lifecycle CLI accepts (what Argo substitutes at run time)."""

    def example(m: re.Match) -> str:
        expr = m.group(0).lower()
        if "version" in expr:
            return "7"
        if "timeout" in expr:
            return "60"
        if "environment" in expr or "alias" in expr or "target" in expr:
            return names.CANARY  # an environment name that is also an alias
        if "url" in expr:
            return "http://127.0.0.1:8082"
        return "x"

    return re.sub(r"\{\{[^}]*\}\}", example, arg)


def lifecycle_calls() -> list[tuple[str, list[str]]]:
    """Every `python -m gourmetgram.lifecycle ...` in the workflows (container args or script lines)."""
    import shlex

    calls = []
    for path in t.workflow_files():
        for doc in t.load_yaml_docs(path):
            for inner in [doc, *t.embedded_manifests(doc)]:
                for _, key, value in t.walk(inner):
                    if key == "container" and isinstance(value, dict):
                        cmd = [str(c) for c in (value.get("command") or []) + (value.get("args") or [])]
                        if cmd[:3] == ["python", "-m", "gourmetgram.lifecycle"]:
                            calls.append((t.rel(path), cmd[3:]))
                    if key == "script" and isinstance(value, dict):
                        source = (value.get("source") or "").replace("\\\n", " ")
                        for m in re.finditer(r"python3? -m gourmetgram\.lifecycle ([^\n;&|]*)", source):
                            calls.append((t.rel(path), shlex.split(m.group(1))))
    return calls


def test_workflows_call_the_lifecycle_cli_with_valid_arguments(capsys):
    from gourmetgram.lifecycle.__main__ import build_parser

    calls = lifecycle_calls()
    assert calls, "no workflow runs `python -m gourmetgram.lifecycle`"
    bad = []
    for where, argv in calls:
        try:
            build_parser().parse_args([_fill(a) for a in argv])
        except SystemExit:
            bad.append(f"{where}: {' '.join(argv)}: {capsys.readouterr().err.strip().splitlines()[-1]}")
    assert not bad
    used = {argv[0] for _, argv in calls}
    assert {"set-alias", "fetch-model", "test-staging", "check-approved"} <= used


def test_staging_test_url_is_the_staging_service():
    urls = [argv[argv.index("--url") + 1] for _, argv in lifecycle_calls() if argv[0] == "test-staging"]
    assert urls
    want = f"http://{names.APP_SERVICE}.{names.namespace(names.STAGING)}.svc.cluster.local:{values.env_port('staging')}"
    assert all(u.rstrip("/") in (want, want.replace(".svc.cluster.local", "")) for u in urls), urls


def test_argocd_cli_image_matches_the_pinned_argocd_version():
    """The workflows' argocd CLI image and the Argo CD Kubespray installs are the one pinned version."""
    import yaml

    pinned = yaml.safe_load((t.REPO / "ansible" / "vars" / "versions.yml").read_text())["argocd_version"]
    tags = {m for p in t.workflow_files() for m in re.findall(r"quay\.io/argoproj/argocd:([\w.-]+)", p.read_text())}
    assert tags, "no workflow uses the argocd CLI image"
    assert tags == {pinned}, f"workflows use argocd {sorted(tags)}, ansible/vars/versions.yml pins {pinned}"


def test_node_addresses_agree_between_terraform_kubespray_and_the_inventory_generator():
    """node1..3 -> 192.168.1.11..13 in tf/kvm (var.nodes), the Kubespray inventory and the generated inventory."""
    import yaml

    from gourmetgram.cluster import inventory

    tf_nodes = t.hcl_blocks(t.load_hcl(t.REPO / "tf" / "kvm"), "variable")["nodes"]["default"]
    hosts = yaml.safe_load((t.REPO / "ansible/k8s/inventory/mycluster/hosts.yaml").read_text())["all"]["hosts"]
    kubespray_nodes = {name: h["ip"] for name, h in hosts.items()}
    generated = yaml.safe_load(inventory.render_inventory("203.0.113.10", inventory.DEFAULT_NODES))
    generated_nodes = {name: h["ansible_host"] for name, h in generated["all"]["hosts"].items()}
    assert tf_nodes == kubespray_nodes == generated_nodes == dict(inventory.DEFAULT_NODES)


def _chart_files(chart):
    return {
        str(p.relative_to(chart)): p.read_bytes()
        for p in sorted(chart.rglob("*"))
        if p.is_file() and p.name != "values.yaml"
    }


def test_environment_charts_differ_only_in_values():
    staging, *others = [t.REPO / "k8s" / env for env in names.ENVIRONMENTS]
    for chart in others:
        assert _chart_files(chart) == _chart_files(staging), f"{t.rel(chart)} differs from k8s/staging beyond values"


def _differences(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        return {d for k in a.keys() | b.keys() for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")}
    return set() if a == b else {prefix.rstrip(".")}


def test_environment_values_differ_only_in_environment_settings():
    """The env name, its image tag, its port, and whether the gateway may reach it (ReferenceGrant)."""
    allowed = {"environment", "image.tag", "service.port", "referenceGrant.enabled"}
    staging = values.chart_values(names.STAGING)
    for env in names.ENVIRONMENTS:
        assert _differences(values.chart_values(env), staging) <= allowed, env


def test_per_environment_playbooks_differ_only_in_the_environment():
    import iac_values as v

    texts = {env: v.argocd_playbook(env).read_text() for env in names.ENVIRONMENTS}
    normalised = {env: text.replace(env, "ENV") for env, text in texts.items()}
    assert len(set(normalised.values())) == 1, "argocd_add_{staging,canary,prod}.yml differ beyond the env name"
