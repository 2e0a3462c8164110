"""The local platform's commands, as the invoke tasks (and tests) call them.

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
from gourmetgram.lifecycle.steps import Lifecycle, StepFailed
from gourmetgram.local.platform import LocalPlatform
from gourmetgram.local.state import PlatformError, PlatformLock, Ports
from gourmetgram.mlflow_server import no_telemetry_env

FLOW = values.REPO_ROOT / "train" / "flow.py"
DATA_IMAGES_PER_CLASS = 12
DATA_IMAGE_SIZE = 64


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
    """Synthetic Food-11 layout under <state>/data (made once)."""
    root = platform.state.path("data", "Food-11")
    if not (root / ".complete").is_file():
        from train import synthetic

        platform.say(f"==> data: synthetic Food-11 images in {root}")
        synthetic.generate(root, seed=0, images_per_class=DATA_IMAGES_PER_CLASS, image_size=DATA_IMAGE_SIZE)
        (root / ".complete").write_text("ok\n")
    return root


def run_training(platform: LocalPlatform, bad: bool = False) -> int:
    """train/flow.py --preset ci on the synthetic data; the registered version number."""
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
        "--data-dir",
        str(data),
        "--version-file",
        str(version_file),
    ]
    if bad:
        cmd += ["--artifact-format", "state-dict"]
    env = no_telemetry_env()
    env["MLFLOW_TRACKING_URI"] = platform.mlflow_url
    env.setdefault("OMP_NUM_THREADS", "2")
    log = platform.state.logs / "train.log"
    platform.say(f"    {' '.join(cmd[1:])}  (output: {log})")
    with log.open("a") as fh:
        fh.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=values.REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise PlatformError(f"train/flow.py exited with {proc.returncode}; {log} ends with:\n{tail}")
    text = version_file.read_text().strip() if version_file.is_file() else ""
    if not text:
        raise PlatformError("train/flow.py registered no model (the model tests gate failed?); see " + str(log))
    return int(names.version_string(text).rsplit(".", 1)[1])


def train(platform: LocalPlatform, bad: bool = False, staging_timeout: float = 60.0) -> Lifecycle:
    """train -> gate -> register -> development -> staging -> test -> approved -> canary.

    Returns the Lifecycle (its timings per step); raises StepFailed naming the failed step.
    """
    with PlatformLock(platform.state, "local.train" + (" --bad" if bad else "")):
        _require_up(platform)
        lc = Lifecycle(platform, platform.registry(), say=platform.say, staging_timeout=staging_timeout)
        with lc.step("train", "train/flow.py (ci preset, synthetic data): train, model tests gate, register"):
            lc.version = run_training(platform, bad=bad)
            platform.say(f"    registered {names.MODEL_NAME} version {lc.version}")
        lc.release(lc.version)
        return lc


def promote(platform: LocalPlatform, source: str, target: str, model_version: int) -> Lifecycle:
    with PlatformLock(platform.state, f"local.promote --from {source} --to {target} --version {model_version}"):
        _require_up(platform)
        lc = Lifecycle(platform, platform.registry(), say=platform.say)
        lc.promote(source, target, model_version)
        return lc


def rollback(platform: LocalPlatform, env: str) -> int:
    with PlatformLock(platform.state, f"local.rollback --env {env}"):
        _require_up(platform)
        lc = Lifecycle(platform, platform.registry(), say=platform.say)
        return lc.rollback(env)


def _require_up(platform: LocalPlatform) -> None:
    if not platform.supervisor.running():
        raise PlatformError(f"the local platform in {platform.state.root} is not running: run 'invoke local.up'")


def state_from_env() -> LocalPlatform:
    return LocalPlatform(os.environ.get("GG_STATE_DIR"))


__all__ = ["StepFailed", "up", "down", "train", "promote", "rollback", "run_training", "dataset"]
