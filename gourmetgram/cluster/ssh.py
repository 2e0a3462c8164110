"""ssh to node1 from the controller: one quoted remote command, the dashboards' tunnels, and the
status reads (each environment's deployed image, MLflow's registry through its REST API).

Pure functions of the settings; the tasks run them through the Runner.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import quote

from gourmetgram import names, values
from gourmetgram.cluster import mlflow_auth
from gourmetgram.cluster.runner import Step
from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import UsageError

FLOATING_IP_PLACEHOLDER = "<floating_ip_out>"
NODE_IMAGE_USER = "cc"


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


def tunnel_step(settings: Settings, floating_ip: str, service: str) -> Step:
    """ssh -L <port> to node1 running the matching kubectl port-forward (the lab's two commands in one)."""
    if service not in TUNNELS:
        raise UsageError(f"unknown service {service!r}: expected one of {', '.join(TUNNELS)}")
    t = TUNNELS[service]
    forward = f"{t.local_port}:127.0.0.1:{t.local_port}"
    remote = ["kubectl", "port-forward", "-n", t.namespace, t.service, f"{t.local_port}:{t.service_port}"]
    # -t: a terminal on node1, so Ctrl-C here also ends the remote port-forward.
    return Step(
        argv=(*ssh_argv(settings, floating_ip, "-t", "-L", forward), shlex.join(remote)),
        title=f"{service}: open {t.url} ({t.login}); Ctrl-C ends the tunnel",
    )


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
