"""The measurements: the recording rules' expressions over one interval, via Prometheus' HTTP API.

The rules file (k8s/platform/files/prometheus/canary-rules.yml) is the one definition of
each signal. Its rules use a 1m window; the analysis runs the same expressions with the
window set to its interval, at one instant, so canary and production are measured over
exactly the same seconds.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

import requests
import yaml

from gourmetgram import values
from gourmetgram.canary.decide import Signals
from gourmetgram.errors import BadAnswer, GourmetGramError

RULES_FILE = values.K8S_DIR / "platform" / "files" / "prometheus" / "canary-rules.yml"
RULE_WINDOW = "[1m]"
RECORDS = {
    "requests": "gourmetgram:requests:increase1m",
    "error_rate": "gourmetgram:error_5xx_ratio:1m",
    "latency_p95": "gourmetgram:latency_p95_seconds:1m",
    "classes": "gourmetgram:predictions:increase1m",
    "confidence_mean": "gourmetgram:confidence_mean:1m",
    "labels": "gourmetgram:feedback_labels:increase1m",
    "accuracy": "gourmetgram:online_accuracy:1m",
}


class PrometheusError(GourmetGramError):
    """Prometheus could not answer a query; the message names the server and the query."""


@cache
def rules(path: Path = RULES_FILE) -> dict[str, str]:
    """{record name: expr} of the rules file."""
    doc = yaml.safe_load(path.read_text())
    return {r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def expression(record: str, window_seconds: float) -> str:
    """The rule's expr with its 1m window replaced by the analysis interval."""
    expr = rules()[record]
    if RULE_WINDOW not in expr:
        raise BadAnswer(f"rule {record} has no {RULE_WINDOW} window to replace")
    return expr.replace(RULE_WINDOW, f"[{max(1, round(window_seconds))}s]")


class Prometheus:
    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            resp = requests.get(f"{self.url}/api/v1/query", params=params, timeout=self.timeout)
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url}: query {expr!r} failed: {body.get('error', body)}")
        out = []
        for item in body["data"]["result"]:
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append((item["metric"], value))
        return out

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=self.timeout).status_code == 200
        except requests.RequestException:
            return False


def _version_label(version: int | str) -> str:
    from gourmetgram import names

    return names.version_string(version)


def window_signals(prom: Prometheus, window_seconds: float, at: float, versions: dict[str, int]) -> dict[str, Signals]:
    """{environment: Signals} over [at - window, at] for the given {environment: model version}."""
    wanted = {(env, _version_label(v)) for env, v in versions.items()}
    found = {env: Signals() for env in versions}

    def rows(key: str):
        for labels, value in prom.query(expression(RECORDS[key], window_seconds), at):
            k = (labels.get("environment", ""), labels.get("model_version", ""))
            if k in wanted:
                yield k[0], labels, value

    for key in ("requests", "labels"):
        for env, _labels, value in rows(key):
            setattr(found[env], key, getattr(found[env], key) + value)
    for key in ("error_rate", "latency_p95", "confidence_mean", "accuracy"):
        for env, _labels, value in rows(key):
            setattr(found[env], key, value)
    for env, labels, value in rows("classes"):
        found[env].classes[labels.get("class_name", "")] = value
    return found


PROMQL_FUNCTIONS = {
    "sum", "avg", "max", "min", "count", "topk", "bottomk", "quantile", "stddev", "count_values", "rate", "irate",
    "increase", "delta", "histogram_quantile", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time",
    "clamp_min", "clamp_max", "label_replace", "vector", "scalar", "abs", "bool", "time", "sort", "sort_desc",
    "round", "and", "or", "unless", "offset", "absent", "group_left", "group_right", "by", "without", "on",
    "ignoring",
}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (labels, functions and numbers left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range windows
    words = re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text)
    return {w for w in words if w not in PROMQL_FUNCTIONS}
