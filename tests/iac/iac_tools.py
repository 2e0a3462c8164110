"""The offline infrastructure checks, one function per tool.

Each check takes paths and returns a list of findings (strings naming the file);
an empty list means clean. The tests run them on the repository's real files
and on broken copies in tmp_path (planted defects), so every check is shown to
fail when it should. The tools are the real ones: terraform fmt, python-hcl2,
Helm's Go engine (helm-python-sdk), kubernetes-validate, the Gateway API CRD
schemas, hera's models, ansible-playbook, ansible-lint, yamllint, checkov and
hadolint. Nothing here touches the network except checkov's one-time venv
creation (PyPI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterable
from pathlib import Path

import yaml

from gourmetgram.paths import REPO_ROOT as REPO

HERE = Path(__file__).resolve().parent
KUBESPRAY = "ansible/k8s/kubespray"
CHECKOV_REQUIREMENTS = HERE / "checkov-requirements.txt"
CHECKOV_VENV = REPO / ".cache" / "checkov-venv"


# ---------------------------------------------------------------- discovery


def repo_files() -> list[Path]:
    """Files a clean clone has (tracked), plus new files not ignored, minus the Kubespray submodule."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        path = REPO / rel
        if rel.startswith(KUBESPRAY) or not path.is_file():
            continue
        files.append(path)
    return files


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def load_yaml_docs(path: Path) -> list:
    with open(path) as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def is_playbook(path: Path) -> bool:
    """A playbook is a YAML list of plays (dicts with hosts or import_playbook)."""
    try:
        docs = load_yaml_docs(path)
    except yaml.YAMLError:
        # A broken playbook is still a playbook: let the syntax check say why.
        return path.suffix in (".yml", ".yaml") and "hosts:" in path.read_text()
    return (
        len(docs) == 1
        and isinstance(docs[0], list)
        and bool(docs[0])
        and all(
            isinstance(p, dict) and ({"hosts", "import_playbook", "ansible.builtin.import_playbook"} & set(p))
            for p in docs[0]
        )
    )


def playbooks(root: Path = REPO) -> list[Path]:
    base = root / "ansible"
    found = []
    for p in sorted(base.rglob("*.yml")) + sorted(base.rglob("*.yaml")):
        relp = p.relative_to(root).as_posix()
        if relp.startswith(KUBESPRAY) or "/inventory/" in relp or "/group_vars/" in relp or "/templates/" in relp:
            continue
        if is_playbook(p):
            found.append(p)
    return found


def charts(root: Path = REPO) -> list[Path]:
    return sorted(p.parent for p in (root / "k8s").glob("*/Chart.yaml"))


def workflow_files(root: Path = REPO) -> list[Path]:
    base = root / "workflows"
    return sorted(list(base.glob("*.yaml")) + list(base.glob("*.yml")))


def dockerfiles(files: Iterable[Path]) -> list[Path]:
    return [p for p in files if p.name == "Dockerfile" or p.name.startswith("Dockerfile.") or p.suffix == ".Dockerfile"]


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def venv_bin(name: str) -> str:
    """A console script of the project's venv (the interpreter running the tests)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


# ---------------------------------------------------------------- terraform


def terraform_fmt(tf_dir: Path) -> list[str]:
    """`terraform fmt -check -recursive`: one finding per unformatted file."""
    terraform = shutil.which("terraform")
    if terraform is None:
        return ["terraform binary not found (needed for `terraform fmt -check`)"]
    res = run([terraform, "fmt", "-check", "-recursive", "-list=true", "-no-color", tf_dir])
    if res.returncode == 0:
        return []
    listed = [line for line in res.stdout.splitlines() if line.strip()]
    if listed:
        return [f"{tf_dir / f if not Path(f).is_absolute() else f}: not formatted (terraform fmt)" for f in listed]
    return [f"terraform fmt failed on {tf_dir}: {res.stderr.strip() or res.stdout.strip()}"]


def load_hcl(tf_dir: Path) -> dict[str, list]:
    """All top-level blocks of a Terraform directory, merged per block type."""
    import hcl2

    merged: dict[str, list] = {}
    for path in sorted(tf_dir.glob("*.tf")):
        with open(path) as fh:
            parsed = hcl2.load(fh)
        for key, blocks in parsed.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def hcl_blocks(parsed: dict, kind: str) -> dict[str, dict]:
    """{'<type>.<name>': body} for resource/data blocks, {'<name>': body} for variable/output."""
    out: dict[str, dict] = {}
    for block in parsed.get(kind, []):
        for typ, named in block.items():
            if kind in ("resource", "data"):
                for name, body in named.items():
                    out[f"{_unquote(typ)}.{_unquote(name)}"] = body
            else:
                out[_unquote(typ)] = named
    return out


def _unquote(s: str) -> str:
    return s.strip('"') if isinstance(s, str) else s


def _deep_strings(obj) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _deep_strings(k)
            yield from _deep_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _deep_strings(v)


def terraform_variable_findings(tf_dir: Path) -> list[str]:
    """Every var.X used is declared, and every declared variable is used."""
    parsed = load_hcl(tf_dir)
    # A variable's own validation block does not count as a use.
    text = " ".join(" ".join(_deep_strings(blocks)) for kind, blocks in parsed.items() if kind != "variable")
    used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", text))
    declared = set(hcl_blocks(parsed, "variable"))
    findings = [f"{rel(tf_dir)}: var.{v} is used but not declared" for v in sorted(used - declared)]
    findings += [f"{rel(tf_dir)}: variable {v!r} is declared but never used" for v in sorted(declared - used)]
    return findings


SECGROUP_WORD_PORTS = {"ssh": 22, "http": 80, "https": 443}


def _secgroup_port(name: str) -> int | None:
    """allow-8000 -> 8000, allow-http-80 -> 80, allow-ssh -> 22 (the lab's naming)."""
    m = re.search(r"(\d+)$", name)
    if m:
        return int(m.group(1))
    return SECGROUP_WORD_PORTS.get(name.rsplit("-", 1)[-1])


def _expand_names(body: dict, local_values: dict) -> list[str]:
    """Security group names of one data block: a literal name, or each.key over a for_each list/set."""
    name = str(body.get("name", ""))
    if "each." not in name:
        return [name]
    for_each = body.get("for_each")
    if isinstance(for_each, list):
        return [str(x) for x in for_each]
    m = re.search(r"local\.([A-Za-z0-9_]+)", str(for_each))
    if m and isinstance(local_values.get(m.group(1)), list):
        return [str(x) for x in local_values[m.group(1)]]
    m = re.search(r"\[([^\]]*)\]", str(for_each))
    if m:
        return re.findall(r'"([^"]+)"', m.group(1))
    return []


def secgroup_ports(tf_dir: Path) -> dict[str, set[int]]:
    """For each sharednet1 port resource: the TCP ports its security groups open.

    Security groups are data sources (created once per project, as in the lab),
    named allow-<port> or allow-<word>-<port>; a port references them one by one
    (data.<type>.<name>.id, or an index for for_each) or all of a for_each block.
    """
    parsed = load_hcl(tf_dir)
    local_values: dict = {}
    for block in parsed.get("locals", []):
        local_values.update(block)
    groups: dict[str, dict[str, int | None]] = {}
    for key, body in hcl_blocks(parsed, "data").items():
        if key.startswith("openstack_networking_secgroup_v2."):
            groups[key.split(".", 1)[1]] = {n: _secgroup_port(n) for n in _expand_names(body, local_values)}
    result = {}
    for key, body in hcl_blocks(parsed, "resource").items():
        if not key.startswith("openstack_networking_port_v2."):
            continue
        if "sharednet1" not in " ".join(_deep_strings(body.get("network_id", ""))):
            continue
        refs = " ".join(_deep_strings(body.get("security_group_ids", [])))
        ports: set[int] = set()
        for data_name, index in re.findall(
            r'data\.openstack_networking_secgroup_v2\.([A-Za-z0-9_-]+)(?:\[\\?"([^"\\]+)\\?"\])?', refs
        ):
            members = groups.get(data_name, {})
            selected = [members.get(index)] if index else list(members.values())
            ports.update(p for p in selected if p is not None)
        result[key] = ports
    return result


def terraform_structure_findings(tf_dir: Path) -> list[str]:
    """The lab's topology: three nodes, each with a private and a sharednet1 port, the floating IP on node1."""
    parsed = load_hcl(tf_dir)
    res = hcl_blocks(parsed, "resource")
    variables = hcl_blocks(parsed, "variable")
    findings = []
    nodes = (variables.get("nodes") or {}).get("default") or {}
    if sorted(nodes) != ["node1", "node2", "node3"]:
        findings.append(f"variable nodes: default should be node1..node3, got {sorted(nodes)}")
    instances = {k: b for k, b in res.items() if k.startswith("openstack_compute_instance_v2.")}
    ports = {k: b for k, b in res.items() if k.startswith("openstack_networking_port_v2.")}
    if len(instances) != 1 or "var.nodes" not in str(next(iter(instances.values()), {}).get("for_each")):
        findings.append(f"expected one instance resource with for_each = var.nodes, got {sorted(instances)}")
    kinds = {}
    for key, body in ports.items():
        net = " ".join(_deep_strings(body.get("network_id", "")))
        kinds[key] = "sharednet1" if "sharednet1" in net else "private" if "private" in net else "?"
        if "var.nodes" not in str(body.get("for_each")):
            findings.append(f"{key}: not one port per node (for_each = var.nodes)")
    for key, body in instances.items():
        attached = {kinds.get(m) for m in re.findall(r"(openstack_networking_port_v2\.[A-Za-z0-9_-]+)\[each\.key\]",
                                                     " ".join(_deep_strings(body.get("network", []))))}  # fmt: skip
        for want in ("private", "sharednet1"):
            if want not in attached:
                findings.append(f"{key}: no {want} port attached per node (network {{ port = ...[each.key].id }})")
    fips = [b for k, b in res.items() if k.startswith("openstack_networking_floatingip_v2.")]
    if len(fips) != 1:
        findings.append(f"expected one floating IP, got {len(fips)}")
    for fip in fips:
        m = re.search(r'(openstack_networking_port_v2\.[A-Za-z0-9_-]+)\[\\?"(\w+)\\?"\]', str(fip.get("port_id")))
        if not m or m.group(2) != "node1" or kinds.get(m.group(1)) != "sharednet1":
            findings.append(f"floating IP is not on node1's sharednet1 port: port_id = {fip.get('port_id')}")
    if "floating_ip_out" not in hcl_blocks(parsed, "output"):
        findings.append("output floating_ip_out is missing")
    return findings


def secgroup_findings(tf_dir: Path, exposed_ports: set[int]) -> list[str]:
    """Every port a Service exposes outside the cluster needs a security group on every sharednet1 port."""
    per_port = secgroup_ports(tf_dir)
    if not per_port:
        return [f"{rel(tf_dir)}: no sharednet1 port found"]
    return [
        f"{key}: no security group opens exposed port {port}"
        for key, opened in sorted(per_port.items())
        for port in sorted(exposed_ports - opened)
    ]


# ---------------------------------------------------------------- helm


def render_chart(chart_dir: Path, values: dict | None, namespace: str, release: str | None = None) -> list[dict]:
    """Render a chart with Helm's own engine (no binary), schema-validated like `helm install`."""
    import helm_python as helm

    helm.disable_logging()  # "found symbolic link" notes for the linked app chart
    with helm.Chart.load(chart_dir) as chart:
        chart.validate_schema(values or {})
        manifests = chart.render(values or {}, name=release or chart_dir.name, namespace=namespace, is_install=True)
    docs = []
    for path in sorted(manifests):
        if not path.endswith((".yaml", ".yml")) or path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(manifests[path]):
            if doc:
                doc.setdefault("metadata", {})
                docs.append({"__source__": path, **doc})
    return docs


def rendered_text(chart_dir: Path, values: dict | None, namespace: str) -> dict[str, str]:
    import helm_python as helm

    with helm.Chart.load(chart_dir) as chart:
        return chart.render(values or {}, name=chart_dir.name, namespace=namespace, is_install=True)


def helm_lint(chart_dir: Path, values: dict | None, kube_version: str | None) -> list[str]:
    """`helm lint --strict`: warnings count as findings."""
    import helm_python as helm

    report = helm.lint(
        chart_dir, values or None, strict=True, kube_version=f"v{kube_version}" if kube_version else None
    )
    # Info messages (severity 1, e.g. "icon is recommended") are advice; warnings and errors are findings.
    findings = [
        f"{rel(chart_dir)}: {m.get('path')}: {m.get('error')}"
        for m in report.get("messages", [])
        if m.get("severity", 3) >= 2
    ]
    return findings + [f"{rel(chart_dir)}: {e}" for e in report.get("errors", [])]


GATEWAY_KINDS = {"GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant", "GRPCRoute"}
# Argo Events' kinds (its CRDs carry no schema to validate against): their fields are checked
# against the pinned v1.9.6 types by tests/unit/k8s/test_k8s_retrain_events.py.
ARGO_EVENTS_KINDS = {"EventBus", "EventSource", "Sensor"}


def kube_validate(docs: list[dict], kube_version: str) -> list[str]:
    """kubernetes-validate --strict for every core/built-in object (Gateway API kinds go to gateway_validate)."""
    import kubernetes_validate

    findings = []
    for doc in docs:
        if doc.get("kind") in GATEWAY_KINDS or doc.get("kind") in ARGO_EVENTS_KINDS:
            continue
        body = {k: v for k, v in doc.items() if k != "__source__"}
        where = f"{doc.get('__source__', '?')}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(body, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            findings.append(f"{where}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            findings.append(f"{where}: no schema for this kind in Kubernetes {kube_version}: {e}")
        except kubernetes_validate.utils.VersionNotSupportedError:
            findings.append(f"kubernetes-validate has no schemas for Kubernetes {kube_version}")
            break
    return findings


def gateway_schemas() -> dict[tuple[str, str], dict]:
    """{(apiVersion, kind): openAPIV3Schema} from the pinned Gateway API CRDs (gourmetgram.gateway_schemas).

    Without the files (a plain offline clone) the calling test is skipped with one
    line saying how to get them; files that fail their sha256 fail the test."""
    import pytest

    from gourmetgram import gateway_schemas as gw

    files = gw.locate()
    if not files:
        pytest.skip(f"Gateway API CRD schemas not available: {gw.HOW_TO_GET}")
    schemas = {}
    for crd_file in files.values():
        for crd in load_yaml_docs(crd_file):
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for ver in crd["spec"]["versions"]:
                schemas[(f"{group}/{ver['name']}", kind)] = ver["schema"]["openAPIV3Schema"]
    return schemas


def _strict_schema(schema):
    """CRD schemas allow unknown fields only where they say so; make that explicit for jsonschema."""
    if isinstance(schema, dict):
        out = {k: _strict_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict_schema(v) for v in schema]
    return schema


def gateway_validate(docs: list[dict]) -> list[str]:
    """Gateway API objects against the CRDs' openAPIV3Schema (unknown fields rejected, as the API server prunes)."""
    import jsonschema

    schemas = gateway_schemas()
    findings = []
    for doc in docs:
        if doc.get("kind") not in GATEWAY_KINDS:
            continue
        where = f"{doc.get('__source__', '?')}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        schema = schemas.get((doc.get("apiVersion"), doc.get("kind")))
        if schema is None:
            findings.append(f"{where}: {doc.get('apiVersion')} is not served by the pinned Gateway API CRDs")
            continue
        body = {k: v for k, v in doc.items() if k not in ("__source__", "apiVersion", "kind", "metadata")}
        strict = _strict_schema(schema)
        strict.get("properties", {}).pop("metadata", None)
        strict["properties"].pop("apiVersion", None)
        strict["properties"].pop("kind", None)
        for err in jsonschema.Draft7Validator(strict).iter_errors(body):
            findings.append(f"{where}: {'/'.join(str(p) for p in err.path)}: {err.message}")
    return findings


# ---------------------------------------------------------------- argo


def argo_strict(files: list[Path]) -> dict[str, list[str]]:
    """hera's Argo models with extra="forbid", in a subprocess (the strictness must not leak into other tests)."""
    res = run([sys.executable, HERE / "argo_strict.py", *files], timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"argo_strict.py failed: {res.stderr}")
    return json.loads(res.stdout)


def walk(obj, path=()):
    """Yield (path, key, value) for every mapping entry in a nested structure."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path, k, v
            yield from walk(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, (*path, i))


def embedded_manifests(doc: dict) -> list[dict]:
    """Kubernetes/Argo objects inside `resource.manifest` strings of a workflow's templates (recursively)."""
    out = []
    for _, key, value in walk(doc):
        if key == "manifest" and isinstance(value, str):
            try:
                inner = yaml.safe_load(value)
            except yaml.YAMLError:
                continue
            if isinstance(inner, dict):
                out.append(inner)
                out.extend(embedded_manifests(inner))
    return out


def _spec(doc: dict) -> dict:
    spec = doc.get("spec") or {}
    return spec.get("workflowSpec") or {} if doc.get("kind") == "CronWorkflow" else spec


def _params(params) -> tuple[set[str], set[str]]:
    """(declared, required) parameter names; required = no value, default or valueFrom."""
    declared, required = set(), set()
    for p in params or []:
        declared.add(p.get("name"))
        if not any(k in p for k in ("value", "default", "valueFrom")):
            required.add(p.get("name"))
    return declared, required


def argo_crossref_findings(files: list[Path]) -> list[str]:
    """workflowTemplateRef/templateRef targets exist; arguments passed are declared; required ones are passed."""
    docs = []  # (where, doc)
    for path in files:
        for doc in load_yaml_docs(path):
            if isinstance(doc, dict):
                docs.append((rel(path), doc))
                docs.extend((f"{rel(path)} (embedded manifest)", inner) for inner in embedded_manifests(doc))
    templates = {d["metadata"]["name"]: d for _, d in docs
                 if d.get("kind") == "WorkflowTemplate" and d.get("metadata", {}).get("name")}  # fmt: skip
    findings = []

    def check_args(where, target, passed_params, declared, required):
        passed = {p.get("name") for p in passed_params or []}
        for name in sorted(passed - declared):
            findings.append(f"{where}: passes {name!r}, which {target} does not declare")
        for name in sorted(required - passed):
            findings.append(f"{where}: does not pass required parameter {name!r} of {target}")

    for where, doc in docs:
        spec = _spec(doc)
        ref = spec.get("workflowTemplateRef")
        if ref:
            name = ref.get("name")
            target = templates.get(name)
            if target is None:
                findings.append(f"{where}: workflowTemplateRef {name!r} is not a WorkflowTemplate in workflows/")
            else:
                declared, required = _params((target["spec"].get("arguments") or {}).get("parameters"))
                check_args(where, f"WorkflowTemplate {name}", (spec.get("arguments") or {}).get("parameters"),
                           declared, required)  # fmt: skip
        for path, key, value in walk(spec):
            if key != "templateRef" or not isinstance(value, dict):
                continue
            target = templates.get(value.get("name"))
            if target is None:
                findings.append(f"{where}: templateRef {value.get('name')!r} is not a WorkflowTemplate in workflows/")
                continue
            tmpl = {tm.get("name"): tm for tm in target["spec"].get("templates", [])}.get(value.get("template"))
            if tmpl is None:
                findings.append(f"{where}: templateRef {value.get('name')}/{value.get('template')}: no such template")
                continue
            step = _get(spec, path)
            declared, required = _params((tmpl.get("inputs") or {}).get("parameters"))
            check_args(where, f"template {value.get('name')}/{value.get('template')}",
                       ((step or {}).get("arguments") or {}).get("parameters"), declared, required)  # fmt: skip
    return findings


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def image_is_pinned(image: str) -> bool:
    """A digest, or a tag on the last path component that is not `latest`."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] not in ("", "latest")


def unpinned_images(docs: list[tuple[str, dict]]) -> list[str]:
    """Every container image names a tag other than latest (or a digest); templated tags count as pinned."""
    findings = []
    for where, doc in docs:
        for inner in [doc, *embedded_manifests(doc)]:
            for _, key, value in walk(inner):
                if key != "image" or not isinstance(value, str):
                    continue
                image = re.sub(r"\{\{[^}]*\}\}", "x", value)
                if not image_is_pinned(image):
                    findings.append(f"{where}: image {value!r} is not pinned to a tag or digest (latest is not a pin)")
    return findings


# ---------------------------------------------------------------- ansible


def ansible_env(cfg: Path | None = None) -> dict:
    env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": "/tmp/.ansible-iac", "ANSIBLE_HOME": "/tmp/.ansible-iac"}
    if cfg is not None:
        env["ANSIBLE_CONFIG"] = str(cfg)
    return env


def ansible_syntax(playbook_paths: list[Path], inventory: Path) -> dict[str, str]:
    """`ansible-playbook --syntax-check`: {playbook: error} for every failing playbook.

    One call for all playbooks (fast path); on failure each is checked alone to say which.
    """
    cmd = [venv_bin("ansible-playbook"), "--syntax-check", "-i", inventory]
    res = run([*cmd, *playbook_paths], env=ansible_env())
    if res.returncode == 0:
        return {}
    failures = {}
    for pb in playbook_paths:
        one = run([*cmd, pb], cwd=pb.parent, env=ansible_env())
        if one.returncode != 0:
            failures[rel(pb)] = (one.stderr.strip() or one.stdout.strip())[-2000:]
    if not failures:
        failures["(all)"] = res.stderr[-2000:]
    return failures


def ansible_lint(paths: list[Path], cwd: Path = REPO, config: Path | None = None) -> list[dict]:
    """ansible-lint --offline at the profile in .ansible-lint: its findings (codeclimate JSON)."""
    cfg = config or (REPO / ".ansible-lint")
    res = run(
        [venv_bin("ansible-lint"), "--offline", "-c", cfg, "-f", "codeclimate", "-q", "--nocolor", *paths],
        cwd=cwd,
        env=ansible_env(),
    )
    try:
        report = json.loads(res.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(f"ansible-lint did not produce JSON (rc={res.returncode}): {res.stderr[-3000:]}") from None
    if res.returncode not in (0, 2) and not report:
        raise RuntimeError(f"ansible-lint failed (rc={res.returncode}): {res.stderr[-3000:]}")
    return report


# ---------------------------------------------------------------- yaml, docker, secrets


def yamllint(paths: list[Path], config: Path | None = None) -> list[str]:
    if not paths:
        return []
    cfg = config or (REPO / ".yamllint")
    res = run([venv_bin("yamllint"), "-f", "parsable", "-c", cfg, *paths])
    return [line for line in res.stdout.splitlines() if line.strip()]


def hadolint(paths: list[Path]) -> list[str]:
    if not paths:
        return []
    res = run([venv_bin("hadolint"), "--config", REPO / ".hadolint.yaml", "-f", "json", *paths])
    try:
        report = json.loads(res.stdout or "[]")
    except json.JSONDecodeError:
        return [f"hadolint failed: {res.stderr.strip() or res.stdout.strip()}"]
    return [f"{rel(Path(r['file']))}:{r['line']}: {r['code']} {r['message']}" for r in report]


SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "OpenStack application credential": re.compile(
        r"application_credential_secret\s*[:=]\s*['\"]?(?!<|\$|\{)[A-Za-z0-9_-]{20,}"
    ),
    "literal password": re.compile(
        r"(?i)\b(?:password|passwd|secret_?key|api_?key|token)\b\s*[:=]\s*['\"](?![<{$%*])(?=[^'\"\s]*[0-9])"
        r"(?=[^'\"\s]*[A-Za-z])[^'\"\s]{12,}['\"]"
    ),
}


def scan_secrets(paths: Iterable[Path]) -> list[str]:
    findings = []
    for path in paths:
        try:
            text = path.read_text(errors="strict")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, models) hold no credentials we could read
        for what, pattern in SECRET_PATTERNS.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                findings.append(f"{rel(path)}:{line}: {what}")
    return findings


# ---------------------------------------------------------------- checkov (own venv)


def checkov_bin() -> Path:
    """checkov from its own venv (it needs a different python-hcl2 than ours), created on first use."""
    import fcntl

    exe = CHECKOV_VENV / "bin" / "checkov"
    stamp = CHECKOV_VENV / ".requirements"
    want = CHECKOV_REQUIREMENTS.read_text()
    CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
    # One creator at a time (nox -s lint and the tests may start together).
    with open(CHECKOV_VENV.parent / "checkov-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists() and stamp.exists() and stamp.read_text() == want:
            return exe
        print(f"creating {rel(CHECKOV_VENV)} from {rel(CHECKOV_REQUIREMENTS)} (once, from PyPI)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(CHECKOV_VENV)
        res = run(
            [CHECKOV_VENV / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", CHECKOV_REQUIREMENTS],
            timeout=1200,
        )  # fmt: skip
        if res.returncode != 0:
            raise RuntimeError(f"installing checkov into {CHECKOV_VENV} failed: {res.stderr[-3000:]}")
        stamp.write_text(want)
        return exe


def _json_documents(text: str) -> list:
    """checkov prints one JSON document per scanned directory, back to back."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        docs.extend(doc if isinstance(doc, list) else [doc])
    return docs


def checkov(directories: dict[str, Path], files: list[Path] | None = None) -> dict:
    """checkov on {framework: directory} (one process) and the secrets framework on files (a second one).

    Returns {"failed": [(framework, check_id, file, resource)], "passed": n, "files": {paths}}.
    """
    exe = checkov_bin()
    cmd = [exe, "--config-file", REPO / ".checkov.yaml", "-o", "json", "--compact"]
    jobs = []
    if directories:
        dirs = sum((["-d", d] for d in directories.values()), [])
        jobs.append([*cmd, *dirs, "--framework", *directories])
    if files:
        jobs.append([*cmd, "--framework", "secrets", *sum((["-f", f] for f in files), [])])
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    procs = [
        subprocess.Popen([str(c) for c in job], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         cwd=REPO)
        for job in jobs
    ]  # fmt: skip
    results: dict = {"failed": [], "passed": 0, "files": set()}
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if not out.strip():
            raise RuntimeError(f"checkov printed nothing (rc={proc.returncode}): {err[-3000:]}")
        for report in _json_documents(out):
            if "results" not in report:
                continue  # {"passed": 0, "failed": 0, ...}: nothing of this kind found
            fw = report.get("check_type", "?")
            for check in report["results"].get("failed_checks", []):
                results["failed"].append((fw, check["check_id"], check.get("file_path"), check.get("resource")))
            results["passed"] += len(report["results"].get("passed_checks", []))
            by_fw = results.setdefault("passed_by_framework", {})
            by_fw[fw] = by_fw.get(fw, 0) + len(report["results"].get("passed_checks", []))
            for key in ("passed_checks", "failed_checks", "skipped_checks"):
                results["files"].update(c.get("file_path") for c in report["results"].get(key, []))
    return results
