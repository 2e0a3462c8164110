"""Every chart in k8s/ renders with its defaults plus the external IP, and the
rendered objects keep the promises of the charts (probes, limits, non-root, pins).
The deep validation (kubernetes-validate, Gateway API CRDs, checkov, lint) is in tests/iac."""

from __future__ import annotations

import re

import pytest

from gourmetgram import names, values

K8S_DIR = values.K8S_DIR
CHARTS = (names.PLATFORM, *names.ENVIRONMENTS)
EXTERNAL_IP = "10.56.0.17"  # the address conftest's external_ip_values passes


def _pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    specs = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            specs.append((f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
    return specs


def _containers(docs: list[dict]):
    for owner, spec in _pod_specs(docs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            yield owner, spec, container


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_without_external_ip_is_rejected(chart, render):
    import helm_python as helm

    with pytest.raises(helm.HelmError, match="externalIP"):
        render(chart, {})


@pytest.mark.parametrize("chart", CHARTS)
def test_every_object_lives_in_the_environment_namespace(chart, rendered):
    workflows_ns = values.chart_values(names.PLATFORM)["workflows"]["namespace"]
    for doc in rendered[chart]:
        if doc["kind"] in ("GatewayClass", "ClusterRole", "ClusterRoleBinding"):
            continue
        if chart == names.PLATFORM and doc["metadata"]["namespace"] == workflows_ns:
            workflows = values.chart_values(names.PLATFORM)["workflows"]
            # + the Role with which the retraining Sensor (platform namespace) submits train-model there.
            allowed = (workflows["serviceAccount"], workflows["uiServiceAccount"], "gourmetgram-retrain-sensor")
            assert doc["metadata"]["name"] in allowed
            continue
        assert doc["metadata"]["namespace"] == names.namespace(chart), doc["metadata"]["name"]


@pytest.mark.parametrize("chart", CHARTS)
def test_every_container_is_pinned_limited_and_unprivileged(chart, rendered):
    checked = 0
    for owner, pod, container in _containers(rendered[chart]):
        image = container["image"]
        assert re.search(r":[A-Za-z0-9._-]+$", image.rsplit("/", 1)[-1]), f"{owner}: {image} has no tag"
        assert not image.endswith(":latest"), f"{owner}: {image}"
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, f"{owner} {container['name']} {kind}"
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("chart", CHARTS)
def test_every_long_running_container_has_probes(chart, rendered):
    for doc in rendered[chart]:
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in container and "livenessProbe" in container, doc["metadata"]["name"]


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_app_deployment_and_service_follow_the_lab(env, rendered):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in rendered[env]}
    service = docs[("Service", names.APP_SERVICE)]
    assert service["spec"]["ports"][0]["port"] == values.env_port(env)
    assert service["spec"]["externalIPs"] == [EXTERNAL_IP]
    container = docs[("Deployment", names.APP_SERVICE)]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == names.image_ref(env, 0)
    assert container["ports"][0]["containerPort"] == values.container_port()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    grants = [d for d in rendered[env] if d["kind"] == "ReferenceGrant"]
    behind_gateway = env in values.route_weights()
    assert len(grants) == (1 if behind_gateway else 0)


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_deploy_workflow_tag_renders_and_foreign_tag_is_refused(env, render, external_ip_values):
    import helm_python as helm

    tag = names.image_tag(env, 7)
    docs = render(env, {**external_ip_values(env), "image": {"tag": tag}})
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == names.image_ref(env, 7)
    other = next(e for e in names.ENVIRONMENTS if e != env)
    with pytest.raises(helm.HelmError, match="does not belong"):
        render(env, {**external_ip_values(env), "image": {"tag": names.image_tag(other, 7)}})


def test_environment_charts_differ_only_in_values():
    for env in names.ENVIRONMENTS:
        chart_dir = K8S_DIR / env
        real_files = sorted(p.name for p in chart_dir.iterdir() if not p.is_symlink())
        assert real_files == ["values.yaml"], f"k8s/{env} holds more than values: {real_files}"
        for linked in ("Chart.yaml", "templates", "values.schema.json"):
            assert (chart_dir / linked).resolve() == (K8S_DIR / "app-common" / linked).resolve()


def test_platform_route_weights_and_ports_come_from_values(rendered):
    route = next(d for d in rendered[names.PLATFORM] if d["kind"] == "HTTPRoute")
    assert route["metadata"]["name"] == "gourmetgram-route"
    backends = route["spec"]["rules"][0]["backendRefs"]
    got = {b["namespace"]: (b["port"], b["weight"]) for b in backends}
    want = {names.namespace(b.environment): (b.port, b.weight) for b in values.route_backends()}
    assert got == want
    services = {d["metadata"]["name"]: d for d in rendered[names.PLATFORM] if d["kind"] == "Service"}
    assert services["mlflow"]["spec"]["ports"][0]["port"] == values.mlflow_port()
    assert services["traefik"]["spec"]["ports"][0]["port"] == values.gateway_port()
    assert {p["port"] for p in services["minio"]["spec"]["ports"]} == {9000, 9001}


def test_platform_weights_must_add_up_to_100(render, external_ip_values):
    import helm_python as helm

    bad = {
        **external_ip_values(names.PLATFORM),
        "route": {"backends": [{"environment": "production", "port": 8080, "weight": 80}]},
    }
    with pytest.raises(helm.HelmError, match="add up to 80"):
        render(names.PLATFORM, bad)


def test_platform_mlflow_uses_postgres_and_minio_without_secret_values(rendered):
    mlflow = next(
        d for d in rendered[names.PLATFORM] if d["kind"] == "Deployment" and d["metadata"]["name"] == "mlflow"
    )
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    assert "--serve-artifacts" in script
    assert f"s3://{values.artifact_bucket()}/" in script
    assert "postgresql://" in script and "/mlflowdb" in script
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    secrets = {v["secret"]["secretName"] for v in mlflow["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert secrets == {"minio-credentials", "postgres-credentials", "mlflow-credentials"}
    assert all(d["kind"] != "Secret" for d in rendered[names.PLATFORM])


def test_platform_pins_agree_with_the_python_pins():
    constraints = dict(
        line.split("==", 1) for line in (values.REPO_ROOT / "constraints.txt").read_text().splitlines() if "==" in line
    )
    # MLflow runs images/mlflow/: the pinned MLflow image plus exact pins (no pip install at start).
    image_dir = values.REPO_ROOT / "images/mlflow"
    dockerfile, requirements = (image_dir / "Dockerfile").read_text(), (image_dir / "requirements.txt").read_text()
    assert re.search(rf"(?m)^FROM ghcr\.io/mlflow/mlflow:v{re.escape(constraints['mlflow'])}$", dockerfile)
    pins = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert pins
    for pin in pins:
        package, version = pin.split("==")
        assert re.fullmatch(r"[A-Za-z0-9._-]+", package) and re.fullmatch(r"[A-Za-z0-9.+_-]+", version), pin
        # The packages the local platform also installs carry the same version here.
        assert constraints.get(package, version) == version, pin


def test_platform_start_scripts_are_valid_sh(rendered):
    import subprocess

    scripts = [
        container["args"][0]
        for _owner, _pod, container in _containers(rendered[names.PLATFORM])
        if container.get("command", [])[:1] == ["/bin/sh"]
    ]
    assert len(scripts) == 2  # MLflow's start command and the bucket job
    for script in scripts:
        result = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env", names.ENVIRONMENTS)
def test_app_rollout_keeps_the_old_version_until_the_new_one_is_ready(env, rendered):
    deployment = next(d for d in rendered[env] if d["kind"] == "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_every_tracked_symlink_stays_inside_the_repository():
    """Argo CD refuses a whole repository that holds an absolute or out-of-bounds symlink
    (repo-server CheckOutOfBoundsSymlinks on the checkout root); the charts rely on symlinks."""
    import subprocess

    listing = subprocess.run(
        ["git", "ls-files", "-s"], cwd=values.REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    links = [line.split("\t", 1)[1] for line in listing.splitlines() if line.startswith("120000 ")]
    assert len(links) >= 9  # Chart.yaml, templates, values.schema.json in each of the three environments
    root = values.REPO_ROOT.resolve()
    for link in links:
        path = values.REPO_ROOT / link
        target = path.readlink()
        assert not target.is_absolute(), f"{link} -> {target} is absolute"
        assert path.resolve().is_relative_to(root), f"{link} -> {target} leaves the repository"
        assert path.exists(), f"{link} -> {target} is dangling"


@pytest.mark.parametrize(
    ("chart", "typo"),
    [
        (names.STAGING, {"service": {"externalIp": "10.56.0.17"}}),
        (names.PLATFORM, {"minio": {"externalIp": "10.56.0.17"}}),
        (names.CANARY, {"imag": {"tag": "canary-1.0.3"}}),
    ],
)
def test_a_misspelled_value_is_rejected_not_ignored(chart, typo, render, external_ip_values):
    import helm_python as helm

    values_with_typo = external_ip_values(chart)
    for key, value in typo.items():
        values_with_typo.setdefault(key, {}).update(value)
    with pytest.raises(helm.HelmError, match="additional properties|not allowed"):
        render(chart, values_with_typo)


def _as_helm_set(params: dict[str, str]) -> dict:
    """Values as Helm builds them from `--set name=value` flags alone (how Argo CD passes parameters):
    `a.b[i].c` paths, integers parsed. A list from --set replaces the chart's list as a whole."""
    out: dict = {}
    for name, raw in params.items():
        value = int(raw) if raw.lstrip("-").isdigit() else raw
        node = out
        parts = re.findall(r"([^.\[\]]+)(?:\[(\d+)\])?", name)
        for n, (key, index) in enumerate(parts):
            last = n == len(parts) - 1
            if index == "":
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
                continue
            items = node.setdefault(key, [])
            i = int(index)
            items.extend({} for _ in range(i + 1 - len(items)))
            if last:
                items[i] = value
            else:
                node = items[i]
    return out


def test_canary_weight_parameters_render_the_route_as_argo_cd_passes_them(render, external_ip_values):
    """The analysis's Helm parameters (gourmetgram/canary/gateways.py) render a valid HTTPRoute even
    though --set replaces the chart's route.backends list whole; weights alone would not."""
    import helm_python as helm

    from gourmetgram.canary import gateways

    params = gateways.weight_parameters(gateways.step_weights(25))
    docs = render(names.PLATFORM, {**external_ip_values(names.PLATFORM), **_as_helm_set(params)})
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    got = {b["namespace"]: (b["port"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]}
    assert got == {"gourmetgram-production": (8080, 75), "gourmetgram-canary": (8081, 25)}
    weights_only = {k: v for k, v in params.items() if k.endswith(".weight")}
    with pytest.raises(helm.HelmError):
        render(names.PLATFORM, {**external_ip_values(names.PLATFORM), **_as_helm_set(weights_only)})


def test_prometheus_discovers_targets_with_namespace_roles_only(rendered):
    """No cluster-wide read for Prometheus: a Role in each environment's namespace and in the
    platform's, each bound to the platform's prometheus ServiceAccount."""
    platform = rendered[names.PLATFORM]
    cluster_wide = [d["metadata"]["name"] for d in platform if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert not [n for n in cluster_wide if "prometheus" in n], cluster_wide
    (sa,) = [d for d in platform if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == "prometheus"]
    subject = {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}
    for chart in (names.PLATFORM, *names.ENVIRONMENTS):
        (binding,) = [
            d
            for d in rendered[chart]
            if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "gourmetgram-prometheus"
        ]
        assert binding["subjects"] == [subject], chart
        assert binding["metadata"]["namespace"] == names.namespace(chart)
        (role,) = [
            d for d in rendered[chart] if d["kind"] == "Role" and d["metadata"]["name"] == "gourmetgram-prometheus"
        ]
        assert role["rules"] == [{"apiGroups": [""], "resources": ["endpoints", "services", "pods"],
                                  "verbs": ["get", "list", "watch"]}], chart  # fmt: skip
