"""Builds in the cluster survive hiccups and do not fill the nodes (issue 11, items 4 and 8).

Every BuildKit step imports and exports a registry cache in the cluster registry, keeps its
state in an emptyDir (not the image's anonymous VOLUME), and retries; clone and push steps
retry; finished pods are garbage-collected instead of living until the workflow's TTL.
"""

from __future__ import annotations

import re

import pytest
import yaml

from gourmetgram import names, values

WORKFLOWS_DIR = values.REPO_ROOT / "workflows"
FILES = sorted(p.name for p in WORKFLOWS_DIR.glob("*.yaml"))
BUILDKIT_STATE = "/home/user/.local/share/buildkit"  # the rootless image's VOLUME (moby/buildkit Dockerfile)


def _doc(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / name).read_text())


def _templates(kind: str) -> list[tuple[str, dict]]:
    """(file, template) for every template whose image is `kind` (buildkit, alpine/git, skopeo)."""
    found = []
    for name in FILES:
        doc = _doc(name)
        if doc["kind"] == "CronWorkflow":
            continue
        for t in doc["spec"]["templates"]:
            body = t.get("script") or t.get("container") or {}
            if kind in body.get("image", ""):
                found.append((name, t))
    return found


BUILDS = _templates("moby/buildkit")
RETRIED = BUILDS + _templates("alpine/git") + _templates("skopeo/stable")


def test_the_build_templates_are_found():
    assert len(BUILDS) >= 6 and len(RETRIED) >= 12


@pytest.mark.parametrize("name, template", BUILDS, ids=[f"{n}:{t['name']}" for n, t in BUILDS])
def test_buildkit_uses_a_registry_cache_in_the_cluster_registry(name, template):
    source = template["script"]["source"]
    (cache,) = re.findall(r"^cache=(\S+)$", source, flags=re.M)
    assert cache.startswith(names.REGISTRY + "/gourmetgram-buildcache:")
    # The cache lives apart from the app and training repositories (their tags are versions and commits).
    assert f"/{names.APP_IMAGE}:" not in cache and f"/{names.TRAINING_IMAGE}:" not in cache
    exports = re.findall(r'--export-cache "([^"]+)"', source)
    imports = re.findall(r'--import-cache "([^"]+)"', source)
    assert exports == ["type=registry,ref=${cache},mode=max,registry.insecure=true,ignore-error=true"]
    assert imports == ["type=registry,ref=${cache},registry.insecure=true"]


@pytest.mark.parametrize("name, template", BUILDS, ids=[f"{n}:{t['name']}" for n, t in BUILDS])
def test_buildkit_state_is_an_emptydir_with_a_limit(name, template):
    mounts = {m["mountPath"]: m["name"] for m in template["script"]["volumeMounts"]}
    volume = mounts[BUILDKIT_STATE]
    (declared,) = [v for v in template["volumes"] if v["name"] == volume]
    assert declared["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("name, template", RETRIED, ids=[f"{n}:{t['name']}" for n, t in RETRIED])
def test_clone_build_and_push_steps_retry_with_backoff(name, template):
    retry = template["retryStrategy"]
    assert int(retry["limit"]) >= 2
    assert retry["retryPolicy"] == "Always"
    assert retry["backoff"]["duration"]


@pytest.mark.parametrize("name", [f for f in FILES if f != "cron-train.yaml"])
def test_finished_pods_are_garbage_collected(name):
    spec = _doc(name)["spec"]
    assert spec["podGC"]["strategy"] == "OnPodCompletion"
    # Long enough to read a failed step's logs, far shorter than the TTL that keeps the Workflow object.
    delay = spec["podGC"]["deleteDelayDuration"]
    assert re.fullmatch(r"\d+[hm]", delay)
    assert spec["activeDeadlineSeconds"] > 0
