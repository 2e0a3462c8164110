"""Every list of environments outside Python says what gourmetgram/names.py says.

YAML, JSON, Jinja and HCL cannot import names.py, so they keep literal lists. Each reader
below pulls one list out of one file; the test compares it with names.ENVIRONMENTS (or
names.PROMOTIONS) and its failure names the file to edit. Adding an environment (e.g.
`shadow`) is names.py plus exactly the files in ENV_LISTS and the per-environment files in
PER_ENV_FILES; README's "Where a change goes" table names the same files (checked below).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import iac_tools as t
import pytest
import yaml

from gourmetgram import names, values

ENVS = list(names.ENVIRONMENTS)
PROMOTION_SOURCES = list(names.PROMOTIONS)
PROMOTION_TARGETS = [target for targets in names.PROMOTIONS.values() for target in targets]


def _text(rel: str) -> str:
    return (t.REPO / rel).read_text()


def _yaml(rel: str):
    return yaml.safe_load(_text(rel))


def _workflow_parameter(rel: str, name: str) -> dict:
    return next(p for p in _yaml(rel)["spec"]["arguments"]["parameters"] if p["name"] == name)


def _quoted(text: str) -> list[str]:
    return re.findall(r"""["']([\w-]+)["']""", text)


def deploy_workflow_enum() -> list[str]:
    return _workflow_parameter("workflows/deploy-container-image.yaml", "environment")["enum"]


def promote_workflow_enums() -> list[list[str]]:
    rel = "workflows/promote-model.yaml"
    return [_workflow_parameter(rel, p)["enum"] for p in ("source-environment", "target-environment")]


def initial_images() -> list[str]:
    """build-initial-buildkit builds staging-1.0.0 and copies it to one tag per other environment."""
    doc = _yaml("workflows/build-initial-buildkit.yaml")
    built = re.findall(r":([\w-]+)-1\.0\.0\b", _text("workflows/build-initial-buildkit.yaml"))[:1]
    copies = []
    for _, key, value in t.walk(doc):
        if key == "tasks" and isinstance(value, list):
            for task in value:
                if task.get("template") == "copy-image":
                    copies += [p["value"] for p in task["arguments"]["parameters"] if p["name"] == "environment"]
    return built + copies


def app_schema_enum() -> list[str]:
    return json.loads(_text("k8s/app-common/values.schema.json"))["properties"]["environment"]["enum"]


def app_schema_tag_pattern() -> list[str]:
    """The image tag's pattern: the environments' alternation, and the version prefix names.py uses."""
    schema = json.loads(_text("k8s/app-common/values.schema.json"))
    pattern = schema["properties"]["image"]["properties"]["tag"]["pattern"]
    m = re.fullmatch(r"\^\(([\w|-]+)\)-(.*)\\\.\(0\|\[1-9\]\[0-9\]\*\)\$", pattern)
    assert m, f"k8s/app-common/values.schema.json: image.tag pattern {pattern!r} is not ^(<envs>)-<M.m>.(N)$"
    assert m.group(2).replace("\\.", ".") == names.VERSION_MAJOR_MINOR, "version prefix differs from names.py"
    return m.group(1).split("|")


def platform_schema_backend_enum() -> list[str]:
    schema = json.loads(_text("k8s/platform/values.schema.json"))
    backend = schema["properties"]["route"]["properties"]["backends"]["items"]
    return backend["properties"]["environment"]["enum"]


def prometheus_namespaces() -> list[str]:
    """The cluster Prometheus' service discovery: `range $env := list "staging" ...`."""
    m = re.search(r"range \$env := list ((?:\"[\w-]+\"\s*)+)", _text("k8s/platform/templates/_prometheus.tpl"))
    assert m, "k8s/platform/templates/_prometheus.tpl: no `range $env := list ...` of environments"
    return _quoted(m.group(1))


def argocd_assert() -> list[str]:
    """argocd_add_env.yml's `assert: that: gg_env ... in [...]` (and its fail_msg names the same)."""
    for _, key, value in t.walk(_yaml("ansible/argocd/argocd_add_env.yml")):
        if key == "ansible.builtin.assert":
            listed = _quoted(re.search(r"in \[([^\]]*)\]", value["that"]).group(1))
            named = [env for env in ENVS if env in value["fail_msg"]]
            assert named == listed, f"ansible/argocd/argocd_add_env.yml: fail_msg names {named}, the list {listed}"
            return listed
    raise AssertionError("ansible/argocd/argocd_add_env.yml: no ansible.builtin.assert on gg_env")


def deployer_apps() -> list[str]:
    """The Argo CD deployer account may sync these apps (names.app_name of each environment)."""
    apps = _yaml("ansible/vars/cluster.yml")["gg_argocd_deployer_apps"]
    return [app.removeprefix("gourmetgram-") for app in apps]


def security_groups() -> list[str]:
    """The environments whose port has an `allow-<port>` security group in tf/kvm (users reach each one)."""
    allowed = {int(p) for p in re.findall(r'"allow-(\d+)"', _text("tf/kvm/data.tf"))}
    return [env for env in names.ENVIRONMENTS if values.env_port(env) in allowed]


def env_charts() -> list[str]:
    """k8s/<env>/ charts: each values.yaml names its own environment (its port, image tag, monitoring Role)."""
    found = []
    for path in sorted((t.REPO / "k8s").glob("*/values.yaml")):
        env = yaml.safe_load(path.read_text()).get("environment")
        if env is not None:
            assert env == path.parent.name, f"{t.rel(path)}: environment {env!r} in chart {path.parent.name}"
            assert "monitoring" in yaml.safe_load(path.read_text()), f"{t.rel(path)}: no monitoring block"
            found.append(env)
    return found


def env_playbooks() -> list[str]:
    """ansible/argocd/argocd_add_<env>.yml: the thin entry points that set gg_env."""
    found = []
    for path in sorted((t.REPO / "ansible" / "argocd").glob("argocd_add_*.yml")):
        for _, key, value in t.walk(t.load_yaml_docs(path)):
            if key == "gg_env":
                found.append(value)
    return found


@dataclass(frozen=True)
class EnvList:
    file: str  # the file to edit, as README's table names it
    read: Callable[[], list]
    want: Callable[[], list]
    what: str


ENV_LISTS = [
    EnvList("workflows/deploy-container-image.yaml", deploy_workflow_enum, lambda: ENVS, "parameter environment enum"),
    EnvList(
        "workflows/promote-model.yaml",
        promote_workflow_enums,
        lambda: [PROMOTION_SOURCES, PROMOTION_TARGETS],
        "source-/target-environment enums (names.PROMOTIONS)",
    ),
    EnvList("workflows/build-initial-buildkit.yaml", initial_images, lambda: ENVS, "the initial <env>-1.0.0 images"),
    EnvList("k8s/app-common/values.schema.json", app_schema_enum, lambda: ENVS, "environment enum"),
    EnvList("k8s/app-common/values.schema.json", app_schema_tag_pattern, lambda: ENVS, "image.tag pattern"),
    EnvList("k8s/platform/values.schema.json", platform_schema_backend_enum, lambda: ENVS, "route backend enum"),
    EnvList("k8s/platform/templates/_prometheus.tpl", prometheus_namespaces, lambda: ENVS, "scraped namespaces"),
    EnvList("ansible/argocd/argocd_add_env.yml", argocd_assert, lambda: ENVS, "the assert on gg_env"),
    EnvList("ansible/vars/cluster.yml", deployer_apps, lambda: ENVS, "gg_argocd_deployer_apps"),
    EnvList("tf/kvm/data.tf", security_groups, lambda: ENVS, "an allow-<port> security group per environment"),
]
# New files per environment (k8s/<env>/ also links Chart.yaml, templates/, values.schema.json to ../app-common/).
PER_ENV_FILES = [
    EnvList("k8s/<env>/values.yaml", env_charts, lambda: sorted(ENVS), "one chart per environment"),
    EnvList(
        "ansible/argocd/argocd_add_<env>.yml", env_playbooks, lambda: sorted(ENVS), "one entry point per environment"
    ),
]


def _id(item: EnvList) -> str:
    return f"{item.file}:{item.what}"


@pytest.mark.parametrize("item", ENV_LISTS + PER_ENV_FILES, ids=_id)
def test_every_environment_list_matches_names_py(item):
    got, want = item.read(), item.want()
    assert got == want, (
        f"{item.file} ({item.what}) lists {got}, gourmetgram/names.py says {want}: edit {item.file} "
        "(README, 'Where a change goes', row 'new environment')"
    )


def test_a_changed_list_is_caught_and_names_its_file(monkeypatch):
    """The readers really read: `shadow` added to names.py alone (as an environment canary promotes to)
    fails every comparison, each naming its file."""
    monkeypatch.setitem(globals(), "ENVS", [*ENVS, "shadow"])
    monkeypatch.setitem(globals(), "PROMOTION_TARGETS", [*PROMOTION_TARGETS, "shadow"])
    missed = []
    for item in ENV_LISTS + PER_ENV_FILES:
        try:
            test_every_environment_list_matches_names_py(item)
            missed.append(_id(item))
        except AssertionError as exc:
            assert f"edit {item.file}" in str(exc)
    assert missed == []


def test_workflows_pass_only_known_environments_and_allowed_promotions():
    """Literal environment arguments in every workflow (test-staging's and analyze-canary's promotions,
    analyze-canary's restore, build-container-image's deploy) are names.py's."""
    findings, seen = [], 0
    for path in t.workflow_files():
        for doc in t.load_yaml_docs(path):
            for inner in [doc, *t.embedded_manifests(doc)]:
                for _, key, value in t.walk(inner):
                    if key != "parameters" or not isinstance(value, list):
                        continue
                    passed = {p.get("name"): p.get("value") for p in value if isinstance(p, dict)}
                    literal = {k: v for k, v in passed.items() if isinstance(v, str) and "{{" not in v}
                    for name in ("environment", "source-environment", "target-environment"):
                        if name in literal:
                            seen += 1
                            if literal[name] not in ENVS:
                                findings.append(f"{t.rel(path)}: {name}={literal[name]!r} is not in names.ENVIRONMENTS")
                    pair = literal.get("source-environment"), literal.get("target-environment")
                    if all(pair) and pair[1] not in names.PROMOTIONS.get(pair[0], ()):
                        findings.append(f"{t.rel(path)}: promotion {pair[0]} -> {pair[1]} is not in names.PROMOTIONS")
    assert seen >= 5, "no literal environment arguments found: the reader is broken"
    assert findings == []


def readme_files_to_touch(title: str) -> set[str]:
    """The file paths in the 'files to touch' cell of README's 'Where a change goes' row `title`."""
    cell = _readme_row(title).split(" | ")[1]
    return set(re.findall(r"`([\w./<>*-]+\.(?:py|ya?ml|json|tpl|tf))`", cell))


def _readme_row(title: str) -> str:
    text = (t.REPO / "README.md").read_text()
    section = text.split("## Where a change goes", 1)
    assert len(section) == 2, "README.md has no '## Where a change goes' section"
    rows = [line for line in section[1].splitlines() if line.startswith(f"| {title}")]
    assert len(rows) == 1, f"README.md 'Where a change goes': no single row '{title}'"
    return rows[0]


def test_readme_env_row_names_exactly_the_files_this_test_reads():
    named = readme_files_to_touch("new environment")
    read = {"gourmetgram/names.py"} | {i.file for i in ENV_LISTS + PER_ENV_FILES}
    assert named == read, (
        f"README's 'new environment' row and tests/iac/test_iac_environments.py disagree: "
        f"only in README {sorted(named - read)}, only in the test {sorted(read - named)}"
    )
    for rel in read - {i.file for i in PER_ENV_FILES}:
        assert (t.REPO / rel).is_file(), rel


def test_argocd_add_has_a_playbook_for_every_environment():
    """`invoke argocd.add --env E` runs ansible/argocd/argocd_add_<E>.yml, derived from names.py."""
    from gourmetgram.cluster.playbooks import ARGOCD_PLAYBOOKS

    assert set(ARGOCD_PLAYBOOKS) == {names.PLATFORM, *names.ENVIRONMENTS}
    missing = [f"ansible/{rel}" for rel in ARGOCD_PLAYBOOKS.values() if not (t.REPO / "ansible" / rel).is_file()]
    assert not missing, f"add {missing} (a thin entry point that sets gg_env, as argocd_add_canary.yml)"
