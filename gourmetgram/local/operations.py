"""The local platform's operations (up, down, train, canary, promote, rollback), as the invoke
tasks (and tests) call them. (Not a command runner: that is gourmetgram/cluster/runner.py.)

Every command that changes the platform holds the state dir's lock, so two of
them at once cannot corrupt state; the second gets a clear LockBusy message.
Training runs train/flow.py (CI preset, synthetic data) as a child process,
exactly as the Argo train-model step runs it, then the shared lifecycle steps
take the registered version to canary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.lifecycle import order
from gourmetgram.lifecycle.steps import Lifecycle, StepFailed
from gourmetgram.local.platform import LocalPlatform
from gourmetgram.local.state import PlatformError, PlatformLock, Ports
from gourmetgram.paths import REPO_ROOT
from gourmetgram.proc_helpers import no_telemetry_env

FLOW = REPO_ROOT / "train" / "flow.py"


def up(
    platform: LocalPlatform,
    ports: Ports | None = None,
    backend: str | None = None,
    artifacts: str | None = None,
) -> None:
    with PlatformLock(platform.state, "local.up"):
        platform.configure(ports=ports, backend=backend, artifacts=artifacts)
        platform.up()


def down(platform: LocalPlatform) -> None:
    with PlatformLock(platform.state, "local.down"):
        platform.down()


def dataset(platform: LocalPlatform) -> Path:
    """Synthetic Food-11 layout under <state>/data, sized as the CI preset wants (made once)."""
    root = platform.state.path("data", "Food-11")
    if not (root / ".complete").is_file():
        from train import config, synthetic

        ci = config.preset("ci")
        platform.say(f"    synthetic Food-11 images ({ci.synthetic_images_per_class} per class) in {root}")
        synthetic.generate(root, ci.seed, ci.synthetic_images_per_class, ci.synthetic_image_size)
        (root / ".complete").write_text("ok\n")
    return root


def checkpoint(platform: LocalPlatform) -> Path:
    """The weights of the last real training, which --emulate starts from."""
    return platform.state.path("runs", "food11.pth")


def run_training(platform: LocalPlatform, bad: bool = False, emulate: bool = False) -> int:
    """train/flow.py --preset ci on the synthetic data; the registered version number.

    emulate: as the lab's flow.py, load a trained checkpoint (the last real training's)
    instead of training; the model tests gate and registration run as usual."""
    if not FLOW.is_file():
        raise PlatformError(f"{FLOW} not found")
    data = dataset(platform)
    runs = platform.state.path("runs")
    runs.mkdir(parents=True, exist_ok=True)
    version_file = runs / "model_version"
    version_file.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(FLOW),
        "--preset",
        "ci",
        "--data",
        str(data),
        "--version-file",
        str(version_file),
    ]
    if emulate:
        if not checkpoint(platform).is_file():
            raise PlatformError("--emulate needs a trained checkpoint: run 'invoke local.train' once first")
        cmd += ["--init-checkpoint", str(checkpoint(platform)), "--epochs", "0"]
    else:
        cmd += ["--save-checkpoint", str(checkpoint(platform))]
    if bad:
        cmd += ["--artifact-format", "state-dict"]
    env = no_telemetry_env()
    env["MLFLOW_TRACKING_URI"] = platform.mlflow_url
    log = platform.state.logs / "train.log"
    platform.say(f"    {' '.join(cmd[1:])}  (output: {log})")
    tail: list[str] = []
    with log.open("a") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in proc.stdout:  # progress: the flow's own lines, also kept in the log
            fh.write(line)
            tail = (tail + [line.rstrip()])[-15:]
            if line.strip() and not line.startswith(("\U0001f3c3", "\U0001f9ea")):  # MLflow's run-link lines
                platform.say(f"    | {line.rstrip()}")
        code = proc.wait()
    if code != 0:
        joined = "\n".join(tail)
        raise PlatformError(f"train/flow.py exited with {code}; {log} ends with:\n{joined}")
    text = version_file.read_text().strip() if version_file.is_file() else ""
    if not text:
        raise PlatformError("train/flow.py registered no model (the model tests gate failed?); see " + str(log))
    return names.version_number(text)


def train(
    platform: LocalPlatform,
    bad: bool = False,
    emulate: bool = False,
    staging_timeout: float = 60.0,
    auto_promote: bool = False,
    load: bool = True,
) -> Lifecycle:
    """train -> gate -> register -> development -> staging -> test -> approved -> canary
    (-> canary analysis -> production, with auto_promote).

    Returns the Lifecycle (its timings per step); raises StepFailed naming the failed step.
    """
    with PlatformLock(platform.state, "local.train" + (" --bad" if bad else "")):
        _require_up(platform)
        lc = Lifecycle(platform.target, platform.registry(), say=platform.say, staging_timeout=staging_timeout)
        how = "load the last trained checkpoint (as the lab emulates training)" if emulate else "train"
        with lc.step(order.TRAIN, f"train/flow.py (ci preset, synthetic data): {how}, model tests gate, register"):
            lc.version = run_training(platform, bad=bad, emulate=emulate)
            platform.say(f"    registered {names.MODEL_NAME} version {lc.version}")
        lc.release(lc.version)
        # A new canary gets the values' split (an earlier abort may have left it at 0).
        platform.set_gateway_weights(values.route_weights())
        if auto_promote:
            with lc.step(order.CANARY_ANALYSIS, f"version {lc.version}: weights, Prometheus checks, verdict"):
                lc.canary_report = _analyse(platform, lc.version, load=load)
        return lc


def canary(platform: LocalPlatform, model_version: int, load: bool = True, plan=None) -> dict:
    """`invoke local.canary --version N`: the canary analysis of what canary serves; its report."""
    with PlatformLock(platform.state, f"local.canary --version {model_version}"):
        _require_up(platform)
        return _analyse(platform, model_version, load=load, plan=plan)


def _analyse(platform: LocalPlatform, model_version: int, load: bool = True, plan=None) -> dict:
    from gourmetgram.canary import plan as canary_plan
    from gourmetgram.canary.gateways import LocalGateway
    from gourmetgram.canary.load import LoadGenerator, images
    from gourmetgram.canary.rollout import Rollout
    from gourmetgram.canary.signals import Prometheus

    n = int(model_version)
    served = platform.target.deployed_version(names.CANARY)
    if served != n:
        raise PlatformError(f"canary serves {served and names.version_string(served)}, not {names.version_string(n)}")
    production = platform.target.deployed_version(names.PRODUCTION)
    if production is None:
        raise PlatformError("production serves nothing: promote a version by hand first (local.promote)")
    registry = platform.registry()
    lc = Lifecycle(platform.target, registry, say=platform.say)

    def restore(version: int | None) -> None:
        if version is None or version == platform.target.deployed_version(names.CANARY):
            return
        if not platform.bundles.path(names.CANARY, version).is_dir():
            platform.target.copy_tag(names.PRODUCTION, names.CANARY, version)
        with lc.step("restore canary", f"{names.image_tag(names.CANARY, version)} (last known-good) back"):
            platform.target.deploy(names.CANARY, version)
        with lc.step("alias canary", f"{names.ALIAS_CANARY} -> version {version}"):
            registry.set_alias(names.ALIAS_CANARY, version)

    rollout = Rollout(
        plan=plan or canary_plan.from_values(local=True),
        prometheus=Prometheus(platform.prometheus_url),
        gateway=LocalGateway(platform),
        registry=registry,
        version=n,
        production_version=production,
        promote=lambda: lc.promote(names.CANARY, names.PRODUCTION, n),
        restore_canary=restore,
        say=platform.say,
    )
    generator = None
    if load:
        generator = LoadGenerator(platform.gateway_url, images(platform.state.path("data", "Food-11"))).start()
        platform.say(f"    load generator: {generator.clients} clients POST /predict to {platform.gateway_url}")
    try:
        report = rollout.run()
    finally:
        if generator is not None:
            summary = generator.stop()
            platform.say(
                f"    load generator: {summary['requests']} requests in {summary['seconds']}s "
                f"({summary['per_second']}/s), non-2xx {summary['non_2xx']}: {summary['codes']}"
            )
    if generator is not None:
        report["load"] = summary
    return report


def promote(platform: LocalPlatform, source: str, target: str, model_version: int) -> Lifecycle:
    with PlatformLock(platform.state, f"local.promote --from {source} --to {target} --version {model_version}"):
        _require_up(platform)
        lc = Lifecycle(platform.target, platform.registry(), say=platform.say)
        lc.promote(source, target, model_version)
        return lc


def rollback(platform: LocalPlatform, env: str) -> int:
    with PlatformLock(platform.state, f"local.rollback --env {env}"):
        _require_up(platform)
        lc = Lifecycle(platform.target, platform.registry(), say=platform.say)
        return lc.rollback(env)


def _require_up(platform: LocalPlatform) -> None:
    if not platform.supervisor.running():
        raise PlatformError(f"the local platform in {platform.state.root} is not running: run 'invoke local.up'")


def state_from_env() -> LocalPlatform:
    return LocalPlatform(os.environ.get("GG_STATE_DIR"))


__all__ = ["StepFailed", "up", "down", "train", "promote", "rollback", "run_training", "dataset"]
