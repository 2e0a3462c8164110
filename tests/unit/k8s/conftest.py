"""Fixtures for the quick chart and workflow smoke tests (the deep checks live in tests/iac)."""

from __future__ import annotations

import pytest
import yaml

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT

K8S_DIR = REPO_ROOT / "k8s"
WORKFLOWS_DIR = REPO_ROOT / "workflows"
CHARTS = (names.PLATFORM, *names.ENVIRONMENTS)
EXTERNAL_IP = "10.56.0.17"


def _external_ip_values(chart: str) -> dict:
    """The values ansible/argocd passes when it adds the chart to Argo CD."""
    if chart == names.PLATFORM:
        return {key: {"externalIP": EXTERNAL_IP} for key in ("gateway", "mlflow", "minio")}
    return {"service": {"externalIP": EXTERNAL_IP}}


def _render(chart: str, values: dict | None = None) -> list[dict]:
    """Render k8s/<chart> offline with helm-python-sdk; the objects it produces, in file order."""
    import helm_python as helm

    helm.disable_logging()  # symlinked templates are reported at INFO on every load
    with helm.Chart.load(K8S_DIR / chart) as loaded:
        manifests = loaded.render(values or {}, name=names.app_name(chart), namespace=names.namespace(chart))
    docs = []
    for _path, text in sorted(manifests.items()):
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Every chart rendered once with its defaults plus the external IP."""
    return {chart: _render(chart, _external_ip_values(chart)) for chart in CHARTS}


@pytest.fixture(scope="session")
def render():
    """render(chart, values) -> the rendered objects."""
    return _render


@pytest.fixture(scope="session")
def external_ip_values():
    """external_ip_values(chart) -> the values ansible/argocd passes (the node's external IP)."""
    return _external_ip_values
