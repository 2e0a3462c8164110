"""Lifecycle wall times and gateway overhead, on one real local platform in a scratch state dir.

invoke demo            (fresh state: up, synthetic data, train, release to canary, promote to production)
invoke local.train     (a second version on the running platform: train ... canary)
gateway overhead       (POST /predict straight to the app process, via the environment's
                        Traefik entry, and via Traefik's main entry with the 90/10 split)
invoke local.down
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bench.load import run_wrk
from bench.models import bench_jpeg
from bench.platform_run import between, free_port_offset, run_invoke
from bench.serving import warm_up
from gourmetgram import names
from gourmetgram.lifecycle import order

GATEWAY_CONCURRENCY = (1, 4, 16)
# Lifecycle stages as people name them -> the Lifecycle's own step names (gourmetgram/lifecycle/order.py).
STEP_GROUPS = {stage.title: stage.steps for stage in order.STAGES}


def group_steps(steps: dict[str, float]) -> dict[str, float]:
    grouped = {}
    for group, members in STEP_GROUPS.items():
        found = [steps[m] for m in members if m in steps]
        if found:
            grouped[group] = round(sum(found), 2)
    return grouped


def flow_phases(mlflow_url: str, model_version: int) -> dict[str, float]:
    """Split the flow's one "train" step into train / gate / register with MLflow's own timestamps:
    run start -> metric train_seconds (fit + evaluation) -> metric tests_ran (export + model tests)
    -> the model version's creation (artifact upload + registration)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    mv = client.get_model_version(names.MODEL_NAME, str(model_version))
    run = client.get_run(mv.run_id)
    trained = max(m.timestamp for m in client.get_metric_history(run.info.run_id, "train_seconds"))
    gated = max(m.timestamp for m in client.get_metric_history(run.info.run_id, "tests_ran"))
    return {
        "train (fit + evaluation)": round((trained - run.info.start_time) / 1000, 2),
        "gate (export + model tests)": round((gated - trained) / 1000, 2),
        "register (artifact upload + version)": round((mv.creation_timestamp - gated) / 1000, 2),
    }


def run_platform(work: Path, parts: list[str], duration_s: float, max_requests: int, say: Callable) -> dict[str, dict]:
    from gourmetgram.local.platform import LocalPlatform

    state = work / "platform-state"
    if state.exists():
        raise RuntimeError(f"{state} exists: the lifecycle is measured from a fresh state dir")
    offset = free_port_offset()
    out: dict[str, dict] = {}
    try:
        demo = run_invoke(["demo", f"--port-offset={offset}"], state, work / "invoke-demo.log", say)
        demo["grouped"] = {
            "platform up": between(demo["timeline"], "== local platform up", "== train"),
            **group_steps(demo["steps"]),
        }
        say(f"  invoke demo: {demo['wall_s']} s wall; " + json.dumps(demo["grouped"]))
        train = run_invoke(["local.train"], state, work / "invoke-local-train.log", say)
        train["grouped"] = group_steps(train["steps"])
        platform = LocalPlatform(state)
        # The demo registers versions 1 and 2 (the second promoted by the canary analysis);
        # local.train the newest one.
        latest = max(platform.registry().versions())
        for run, version in ((demo, 1), (train, latest)):
            try:
                run["flow_phases"] = phases = flow_phases(platform.mlflow_url, version)
                rest = run["steps"].get("train", 0.0) - sum(phases.values())
                phases["start-up (imports, data, MLflow run)"] = round(rest, 2)
            except Exception as exc:  # the split is a detail; the wall times stand without it
                run["flow_phases_error"] = f"{type(exc).__name__}: {exc}"
        say(f"  invoke local.train: {train['wall_s']} s wall; " + json.dumps(train["grouped"]))
        out["lifecycle"] = {"invoke demo (fresh state)": demo, "invoke local.train (second version)": train}
        if "gateway" in parts:
            out["gateway"] = measure_gateway(platform, work, duration_s, max_requests, say)
    finally:
        try:
            run_invoke(["local.down"], state, work / "invoke-local-down.log", say, timeout_s=180)
        except Exception as exc:  # never leave processes behind silently
            say(f"  local.down failed: {exc}")
    return out


def _median(results: list[dict]) -> dict:
    import statistics

    out = dict(results[0])
    out["requests"] = sum(r["requests"] for r in results)
    out["errors"] = sum(r["errors"] for r in results)
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"):
        out[key] = round(statistics.median(r[key] for r in results), 2)
    return out


def measure_gateway(platform, work: Path, duration_s: float, max_requests: int, say: Callable, rounds: int = 3) -> dict:
    image = bench_jpeg(work / "food.jpg")
    current = platform.state.deployments().current
    prod = current[names.PRODUCTION]
    host = platform.settings.host
    paths = {
        "direct": f"http://{host}:{prod.port}",  # the production gunicorn process itself
        "env entry": platform.url(names.PRODUCTION),  # Traefik's production entry (port 8080 by default)
        "gateway": platform.gateway_url,  # Traefik's main entry: 90/10 production/canary
    }
    result: dict = {"model": f"{prod.tag} (CI-size model)", "urls": paths, "rounds": rounds}
    raw: dict[str, list[list[dict]]] = {name: [] for name in paths}
    for url in paths.values():
        warm_up(url, image)
    for round_no in range(1, rounds + 1):  # interleaved, so the machine's drift hits every path alike
        for name, url in paths.items():
            say(f"  round {round_no}/{rounds} {name}: {url}/predict")
            runs = []
            for c in GATEWAY_CONCURRENCY:
                r = run_wrk(f"{url}/predict", image, c, duration_s=duration_s, max_requests=max_requests)
                say(f"    c={c:<3} {r.rps:8.1f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms")
                runs.append(r.as_dict())
            raw[name].append(runs)
    for name in paths:
        result[name] = [_median([rnd[i] for rnd in raw[name]]) for i in range(len(GATEWAY_CONCURRENCY))]
    result["added_ms"] = {
        str(d["concurrency"]): {"p50": round(g["p50_ms"] - d["p50_ms"], 2), "p99": round(g["p99_ms"] - d["p99_ms"], 2)}
        for d, g in zip(result["direct"], result["gateway"], strict=True)
    }
    return result
