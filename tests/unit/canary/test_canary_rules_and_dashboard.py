"""The one rules file and the Grafana dashboard, checked offline with the real promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gourmetgram.canary import signals

HERE = Path(__file__).resolve().parent
DASHBOARD = signals.values.K8S_DIR / "platform" / "files" / "grafana" / "gourmetgram-canary.json"
# Traefik v3's Prometheus metric names the dashboard and rules may use (the e2e test
# tests/e2e/canary checks that the real Traefik of the local platform exports each one).
TRAEFIK_METRICS = {
    "traefik_service_requests_total",
    "traefik_service_request_duration_seconds_bucket",
    "traefik_entrypoint_requests_total",
    "traefik_entrypoint_request_duration_seconds_bucket",
}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool not found: apt-get install prometheus (./lab setup installs it)"
    return found


def app_metric_names() -> set[str]:
    """Every sample name the app can export (app/metrics.py's families with their suffixes)."""
    from prometheus_client import Counter, Gauge, Histogram

    from app import metrics

    out = set()
    for obj in vars(metrics).values():
        if isinstance(obj, Counter):
            out |= {obj._name + "_total"}
        elif isinstance(obj, Histogram):
            out |= {obj._name + s for s in ("_bucket", "_sum", "_count")}
        elif isinstance(obj, Gauge):
            out.add(obj._name)
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def test_promtool_rule_tests_pass_healthy_errors_slow_no_data():
    out = subprocess.run(
        [promtool(), "test", "rules", "canary-rules.test.yml"], cwd=HERE / "promtool", capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    names = [t["name"] for t in yaml.safe_load((HERE / "promtool" / "canary-rules.test.yml").read_text())["tests"]]
    for kind in ("healthy", "errors", "slow", "no data", "labels", "no labels"):
        assert any(n.startswith(kind) for n in names), kind


def test_rules_file_passes_promtool_check_and_reads_only_known_metrics():
    out = subprocess.run([promtool(), "check", "rules", str(signals.RULES_FILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    known = app_metric_names() | TRAEFIK_METRICS
    for record, expr in signals.rules().items():
        assert signals.metric_names_in(expr) <= known, (record, signals.metric_names_in(expr) - known)
        assert signals.RULE_WINDOW in expr, record  # the analysis swaps this window for its interval


def test_every_dashboard_query_parses_and_names_only_existing_metrics(tmp_path):
    exprs = dashboard_exprs()
    assert len(exprs) >= 8
    # promtool parses expressions in a rules file: one recording rule per panel query.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": e.replace("$__rate_interval", "1m")}
                    for i, (_, e) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    known = app_metric_names() | TRAEFIK_METRICS | set(signals.rules())
    for title, expr in exprs:
        unknown = signals.metric_names_in(expr) - known
        assert not unknown, f"panel {title!r} names metrics nobody exports: {sorted(unknown)}"


def test_a_planted_typo_in_a_query_is_caught(tmp_path):
    # The two checks above must be able to fail.
    assert "gourmetgram_served_request_total" not in app_metric_names()
    assert signals.metric_names_in('sum(rate(gourmetgram_served_request_total{x="a_b"}[1m]))') == {
        "gourmetgram_served_request_total"
    }
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "sum(rate(x[1m]"}]}]}))
    assert subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("window, want", [(4, "[4s]"), (60, "[60s]"), (0.4, "[1s]")])
def test_the_analysis_runs_each_rule_over_its_interval(window, want):
    expr = signals.expression("gourmetgram:error_5xx_ratio:1m", window)
    assert want in expr and "[1m]" not in expr
