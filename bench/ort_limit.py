"""The limit (c): onnxruntime alone on already-preprocessed input, in one process, same cores.

No HTTP, no decode, no preprocessing: `concurrency` threads call one shared
InferenceSession back to back (onnxruntime releases the GIL while it runs), each on
a [1, 3, S, S] input. This is the ceiling any server around the same model can reach.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.load import LoadResult


def make_session(model_path: Path, intra_op_threads: int, inter_op_threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_ort_limit(
    model_path: Path,
    input_size: int,
    concurrency: int,
    duration_s: float = 10.0,
    max_requests: int = 2000,
    intra_op_threads: int = 2,
) -> LoadResult:
    """Closed-loop inference from `concurrency` threads; bounded by time and by count."""
    session = make_session(model_path, intra_op_threads)
    x = np.random.default_rng(0).standard_normal((1, 3, input_size, input_size), dtype=np.float32)
    for _ in range(3):  # warm up: first runs allocate and pick kernels
        session.run(None, {"input": x})

    latencies: list[float] = []
    lock = threading.Lock()
    issued = 0
    start = time.perf_counter()
    cpu0 = time.process_time()  # all threads of this process: the onnxruntime pool included
    deadline = start + duration_s

    def worker() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= max_requests or time.perf_counter() >= deadline:
                    return
                issued += 1
            t0 = time.perf_counter()
            session.run(None, {"input": x})
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + 60)
    elapsed = time.perf_counter() - start
    cpu_ms = (time.process_time() - cpu0) * 1000
    ms = np.asarray(latencies) * 1000
    return LoadResult(
        concurrency=concurrency,
        requests=len(latencies),
        errors=0,
        duration_s=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 2),
        p50_ms=round(float(np.percentile(ms, 50)), 2),
        p95_ms=round(float(np.percentile(ms, 95)), 2),
        p99_ms=round(float(np.percentile(ms, 99)), 2),
        mean_ms=round(float(ms.mean()), 2),
        max_ms=round(float(ms.max()), 2),
        cpu_ms_per_request=round(cpu_ms / len(latencies), 2),
    )


def batching_gain(model_path: Path, input_size: int, batch_sizes=(1, 2, 4, 8), runs: int = 20) -> dict[str, float]:
    """CPU ms per image at each batch size (one thread): what server-side batching could save at most."""
    session = make_session(model_path, intra_op_threads=1)
    out = {}
    for b in batch_sizes:
        x = np.random.default_rng(0).standard_normal((b, 3, input_size, input_size), dtype=np.float32)
        session.run(None, {"input": x})
        cpu0 = time.process_time()
        for _ in range(max(2, runs // b)):
            session.run(None, {"input": x})
        out[str(b)] = round((time.process_time() - cpu0) * 1000 / (max(2, runs // b) * b), 2)
    return out


# onnxruntime session options the app could use, each against the app's own (app/inference.py).
SESSION_VARIANTS = (
    "app's options",
    "graph optimisation extended",
    "graph optimisation basic",
    "no memory arena",
    "denormals as zero",
)


def session_option_costs(model_path: Path, input_size: int, rounds: int = 5, runs: int = 20) -> dict[str, float]:
    """Median CPU ms per inference (one thread) of each SESSION_VARIANTS entry, rounds interleaved."""
    from app.inference import session_options

    def options(variant: str) -> ort.SessionOptions:
        opts = session_options(1)
        if variant == "graph optimisation extended":
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        elif variant == "graph optimisation basic":
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        elif variant == "no memory arena":
            opts.enable_cpu_mem_arena = False
        elif variant == "denormals as zero":
            opts.add_session_config_entry("session.set_denormal_as_zero", "1")
        return opts

    x = np.random.default_rng(0).standard_normal((1, 3, input_size, input_size), dtype=np.float32)
    sessions = {
        v: ort.InferenceSession(str(model_path), sess_options=options(v), providers=["CPUExecutionProvider"])
        for v in SESSION_VARIANTS
    }
    samples: dict[str, list[float]] = {v: [] for v in SESSION_VARIANTS}
    for s in sessions.values():
        s.run(None, {"input": x})
    for _ in range(rounds):
        for v, s in sessions.items():
            cpu0 = time.thread_time()
            for _ in range(runs):
                s.run(None, {"input": x})
            samples[v].append((time.thread_time() - cpu0) * 1000 / runs)
    return {v: round(float(np.median(ms)), 2) for v, ms in samples.items()}
