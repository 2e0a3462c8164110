"""README's 'Where a change goes' row 'new check (canary analysis)', kept true: a check's threshold,
record, promtool case and documentation line each exist where the row says, and the row names them."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import yaml

from gourmetgram import values
from gourmetgram.canary import decide, plan, signals

REPO = values.K8S_DIR.parent
PROMTOOL_TESTS = Path(__file__).resolve().parent / "promtool" / "canary-rules.test.yml"
SCHEMA = values.K8S_DIR / "platform" / "values.schema.json"
ROW_FILES = {
    "k8s/platform/files/prometheus/canary-rules.yml",
    "tests/unit/canary/promtool/canary-rules.test.yml",
    "k8s/platform/values.yaml",
    "k8s/platform/values.schema.json",
    "gourmetgram/canary/plan.py",
    "gourmetgram/canary/signals.py",
    "gourmetgram/canary/decide.py",
    "k8s/platform/files/grafana/gourmetgram-canary.json",  # optional: a panel
}


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w.capitalize() for w in rest)


def readme_section(start: str, end: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(start, 1)[1].split(end, 1)[0]


def test_every_threshold_is_in_the_values_and_the_schema():
    want = {camel(f.name) for f in dataclasses.fields(plan.Checks)}
    schema = json.loads(SCHEMA.read_text())["properties"]["canary"]["properties"]["checks"]
    assert set(values.canary_values()["checks"]) == want, "k8s/platform/values.yaml canary.checks vs plan.Checks"
    assert set(schema["required"]) == set(schema["properties"]) == want, "values.schema.json canary.checks"


def test_every_signal_is_read_from_a_rule_with_a_promtool_case():
    assert set(signals.RECORDS) == {f.name for f in dataclasses.fields(decide.Signals)}
    tested = " ".join(
        case["expr"] for t in yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"] for case in t["promql_expr_test"]
    )
    for key, record in signals.RECORDS.items():
        assert record in signals.rules(), f"Signals.{key}: no rule {record} in canary-rules.yml"
        assert record in tested, f"Signals.{key}: rule {record} has no promtool case"


def test_the_readme_table_lists_exactly_the_checks_the_analysis_runs():
    ran = {c.name for c in decide.measure(decide.Signals(), decide.Signals(), plan.from_values().checks, 1).checks}
    table = readme_section("<!-- section:canary -->", "<!-- /section:canary -->")
    assert set(re.findall(r"^\| `(\w+)` \|", table, re.M)) == ran


def test_the_row_names_the_files_a_new_check_touches():
    changes = readme_section("## Where a change goes", "<!-- /section:changes -->")
    (row,) = [line for line in changes.splitlines() if line.startswith("| new check (canary analysis)")]
    named = set(re.findall(r"`([\w./<>*-]+\.(?:py|ya?ml|json))`", row.split(" | ")[1]))
    assert named == ROW_FILES, f"only in README {sorted(named - ROW_FILES)}, only here {sorted(ROW_FILES - named)}"
    assert all((REPO / f).is_file() for f in named)
