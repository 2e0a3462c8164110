"""Faults on the real local platform: a corrupted bundle or model, MLflow stopped mid-lifecycle,
an app master killed with SIGKILL. After each, the platform still serves and the rules hold:
no environment switched to something broken, no alias on a version that was not built and tested.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pytest
import requests

from gourmetgram import names
from gourmetgram.lifecycle.steps import StepFailed
from gourmetgram.lifecycle.target import DeployError

V = names.version_string


@pytest.fixture(scope="module")
def baseline(platform_harness) -> int:
    """Version 1 released to staging and canary, then promoted to production: every environment serves it."""
    h = platform_harness
    n = h.register()
    life = h.lifecycle()
    life.release(n)
    life.promote(names.CANARY, names.PRODUCTION, n)
    for env in names.ENVIRONMENTS:
        assert h.served_version(env) == V(n)
    return n


def _writable(path: Path) -> None:
    """Bundles are frozen read-only; the test plays a disk fault or a careless hand."""
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "truncated model.onnx": lambda b: _truncate(b / "model" / "model.onnx"),
    "bit flip in model.onnx": lambda b: _flip_byte(b / "model" / "model.onnx"),
    "truncated app code": lambda b: _truncate(b / "app" / "app.py"),
    "versions.txt removed": lambda b: (b / "versions.txt").unlink(),
    "extra file planted": lambda b: (b / "app" / "sitecustomize.py").write_text("print('hi')\n"),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupted_bundle_is_refused_at_deploy(platform_harness, baseline, corruption):
    h, plat = platform_harness, platform_harness.platform
    n = h.register()
    tag = plat.target.build(n, plat.registry())
    bundle = plat.bundles.path(names.STAGING, n)
    assert bundle.name == tag
    _writable(bundle)
    CORRUPTIONS[corruption](bundle)
    programs_before = set(plat.supervisor.program_names())

    with pytest.raises(DeployError, match="refused"):
        plat.target.deploy(names.STAGING, n)
    # Not switched in, and no process left behind for it.
    assert h.served_version(names.STAGING) == V(baseline)
    assert plat.target.deployed_version(names.STAGING) == baseline
    assert set(plat.supervisor.program_names()) == programs_before
    # The lifecycle stops at the step that meets the bad bundle; no alias moves past it.
    with pytest.raises(StepFailed) as failed:
        h.lifecycle().release(n)
    assert failed.value.step == "build"
    aliases = h.aliases()
    assert aliases.get(names.ALIAS_STAGING) != n
    assert aliases.get(names.ALIAS_STAGING_APPROVED) != n
    assert aliases.get(names.ALIAS_CANARY) != n
    shutil.rmtree(bundle)  # leave the registry without the broken tag


def test_a_registered_model_that_cannot_load_is_never_switched_in(platform_harness, baseline, faults_tmp):
    """The bundle is intact (built from what was registered), but the model file itself is truncated."""
    h = platform_harness
    broken = faults_tmp / "broken-model" / "model"
    shutil.copytree(h.tmp / "model-1" / "model", broken)
    _truncate(broken / "model.onnx")
    n = h.register(model_dir=broken)

    with pytest.raises(StepFailed) as failed:
        h.lifecycle().release(n)
    assert failed.value.step == "test staging"
    assert "deploy staging" in failed.value.reason
    assert h.served_version(names.STAGING) == V(baseline)
    assert h.served_version(names.CANARY) == V(baseline)
    aliases = h.aliases()
    assert aliases.get(names.ALIAS_STAGING_APPROVED) == baseline
    assert aliases.get(names.ALIAS_CANARY) == baseline
    assert not h.platform.registry().is_approved(n)


@pytest.mark.parametrize("stop_before", ["build", "approve"])
def test_mlflow_stopped_mid_lifecycle_fails_clearly_and_a_rerun_completes(
    platform_harness, baseline, stop_before, fault_report
):
    h, plat = platform_harness, platform_harness.platform
    n = h.register()
    canary_before = h.served_version(names.CANARY)
    life = h.lifecycle()
    say = life.say

    def say_and_break(msg: str) -> None:
        if msg.startswith(f"==> {stop_before}:"):
            h.stop_mlflow()  # MLflow goes away just as the step starts
        say(msg)

    life.say = say_and_break
    t0 = time.monotonic()
    try:
        with pytest.raises(StepFailed) as failed:
            life.release(n)
        failed_after = time.monotonic() - t0
    finally:
        h.start_mlflow()

    # The step that needs MLflow fails, and the message names MLflow and its address.
    assert failed.value.step == stop_before
    assert "MLflow" in failed.value.reason and plat.mlflow_url in failed.value.reason
    # No alias points at a version that was not fully built and tested.
    aliases = h.aliases()
    assert aliases.get(names.ALIAS_STAGING_APPROVED) != n
    assert aliases.get(names.ALIAS_CANARY) != n
    if stop_before == "build":
        assert aliases.get(names.ALIAS_STAGING) != n
        assert not plat.bundles.exists(names.STAGING, n), "a half-built bundle was published"
    assert not plat.registry().is_approved(n)
    assert h.served_version(names.CANARY) == canary_before

    # MLflow is back: rerunning the same lifecycle completes.
    h.lifecycle().release(n)
    aliases = h.aliases()
    assert aliases[names.ALIAS_STAGING_APPROVED] == n and aliases[names.ALIAS_CANARY] == n
    assert h.served_version(names.CANARY) == V(n)
    fault_report[f"MLflow stopped before '{stop_before}'"] = {
        "failed_step": failed.value.step,
        "failed_after_s": round(failed_after, 1),
        "message": failed.value.reason[:120],
    }


def test_sigkill_of_an_app_master_under_load_comes_back(platform_harness, baseline, load_loop, wait, fault_report):
    """supervisord restarts a killed gunicorn master; requests through the environment's port recover."""
    h, plat = platform_harness, platform_harness.platform
    env = names.PRODUCTION
    cur = plat.state.deployments().current[env]
    master = int(plat.supervisor.info(cur.program)["pid"])
    load = load_loop(f"{plat.url(env)}/predict", clients=2, max_requests=6000, max_seconds=120)
    wait(lambda: load.count() >= 30, 30, what="30 requests before the kill")
    killed_at = load.now()
    os.kill(master, signal.SIGKILL)

    def restarted() -> int:
        info = plat.supervisor.info(cur.program) or {}
        pid = int(info.get("pid") or 0)
        return pid if info.get("statename") == "RUNNING" and pid != master else 0

    new_master = wait(restarted, 90, interval=0.2, what="supervisord restarting the app master")
    wait(lambda: h.served_version(env) == V(cur.version), 90, what="the restarted app answering /version")
    seen = load.count()
    wait(lambda: load.count() >= seen + 100, 60, what="100 requests after the restart")
    recovery = load.recovery(killed_at)
    fault_report["app master SIGKILL under load (supervisord restart)"] = recovery.report()
    assert new_master != master
    assert len(recovery.tail) >= 50 and all(o.ok for o in recovery.tail)
    status = plat.status()["environments"][env]
    assert "restarted" in status.get("process", ""), status
    assert requests.get(f"{plat.url(env)}/readyz", timeout=5).status_code == 200
