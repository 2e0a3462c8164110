"""Write the results: bench/results.json (everything), bench/results.md (tables) and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "results.md"
CHARTS_DIR = BENCH_DIR / "charts"

SETUP_LABELS = {
    "app": "(a) our app: gunicorn + onnxruntime",
    "reference": "(b) reference baseline: Flask dev server + torch eager",
    "ort_limit": "(c) limit: onnxruntime alone, preprocessed input",
}


def load_previous() -> dict:
    try:
        return json.loads(RESULTS_JSON.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def write_json(results: dict) -> Path:
    RESULTS_JSON.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return RESULTS_JSON


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def serving_md(serving: dict) -> list[str]:
    out = ["## Serving: POST /predict with one JPEG", ""]
    rows = []
    for key, label in SETUP_LABELS.items():
        for r in serving.get(key, []):
            rows.append(
                [
                    label,
                    r["concurrency"],
                    r["rps"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["errors"],
                    r.get("cpu_ms_per_request"),
                ]
            )
    out += _table(["setup", "concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "CPU ms/req"], rows)
    ratios = serving.get("ratios", {})
    if ratios:
        out += [
            "",
            "Ratios: measured req/s over req/s, and capacity from CPU time per request "
            "(CPU ms/req of the other setup over ours: what the same dedicated cores would serve).",
            "",
        ]
        rows = [
            [
                c,
                _ratio(ratios["a_over_b"].get(c)),
                _ratio(ratios.get("a_over_b_cpu", {}).get(c)),
                _ratio(ratios["a_over_c"].get(c)),
                _ratio(ratios.get("a_over_c_cpu", {}).get(c)),
            ]
            for c in ratios["a_over_b"]
        ]
        out += _table(["concurrency", "(a)/(b) req/s", "(a)/(b) capacity", "(a)/(c) req/s", "(a)/(c) capacity"], rows)
    for name, img in serving.get("images", {}).items():
        if "ratios" not in img:
            continue  # the first image's rows are the table above
        out += ["", f"{name} photo ({img['bytes'] / 1e6:.1f} MB JPEG), same servers:", ""]
        rows = [
            [label, r["concurrency"], r["rps"], r["p50_ms"], r["p99_ms"], r["errors"], r.get("cpu_ms_per_request")]
            for key, label in SETUP_LABELS.items()
            for r in img.get(key, [])
        ]
        out += _table(["setup", "concurrency", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"], rows)
        rows = [
            [c, _ratio(img["ratios"]["a_over_b"].get(c)), _ratio(img["ratios"]["a_over_b_cpu"].get(c))]
            for c in img["ratios"]["a_over_b"]
        ]
        out += [""] + _table(["concurrency", "(a)/(b) req/s", "(a)/(b) capacity"], rows)
    if serving.get("criteria"):
        c = serving["criteria"]
        out += [
            "",
            f"Issue 16's numbers (default settings): (a)/(c) at concurrency 4 {_ratio(c['a_over_c_capacity_c4'])} "
            f"capacity, {_ratio(c['a_over_c_rps_c4'])} req/s (512x384); (a)/(b) on the 12 MP photo at "
            f"concurrency 4 {_ratio(c['a_over_b_rps_c4_12mp'])} req/s, {_ratio(c['a_over_b_capacity_c4_12mp'])} "
            f"capacity; p99/p50 at concurrency 1 {c['p99_over_p50_c1']}; errors of our app {c['app_errors']}.",
        ]
    if serving.get("breakdown"):
        out += ["", *breakdown_md(serving["breakdown"])]
    if serving.get("batching_cpu_ms_per_image"):
        b = ", ".join(f"batch {k}: {v} ms" for k, v in serving["batching_cpu_ms_per_image"].items())
        out += ["", f"onnxruntime CPU time per image by batch size (one thread): {b}"]
    if serving.get("session_options_cpu_ms"):
        o = ", ".join(f"{k}: {v} ms" for k, v in serving["session_options_cpu_ms"].items())
        out += ["", f"onnxruntime session options, CPU time per inference (one thread, medians): {o}"]
    if serving.get("app_settings"):
        s = serving["app_settings"]
        out += ["", "Our app's settings in this run: " + ", ".join(f"{k}={v}" for k, v in s.items())]
    return out


def breakdown_md(breakdown: dict) -> list[str]:
    """CPU ms per request by stage (app/profiling.py laps), one column per image."""
    names = list(breakdown)
    first = breakdown[names[0]]
    out = [
        f"### Where our app's CPU goes (ms per request, concurrency {first['concurrency']}, "
        "profiling on: GG_PROFILE_DIR)",
        "",
    ]
    stages = list(dict.fromkeys(k for b in breakdown.values() for k in b["stages_ms"]))
    rows = [[stage] + [breakdown[n]["stages_ms"].get(stage) for n in names] for stage in stages]
    rows.append(["total (servers' CPU from /proc)"] + [breakdown[n]["cpu_ms_per_request"] for n in names])
    out += _table(["stage", *names], [[r[0], *(_fmt(v, 2) for v in r[1:])] for r in rows])
    return out


def _ratio(x) -> str:
    return "-" if x is None else f"{x:.2f}x"


def tuning_md(tuning: dict) -> list[str]:
    out = ["## Serving settings tried (our app, concurrency 4 and 16)", ""]
    rows = []
    for t in tuning.get("runs", []):
        s = t["settings"]
        name = f"workers={s['GG_WORKERS']} threads={s['GG_THREADS']} ort={s['GG_ORT_THREADS']}"
        for r in t.get("results", []):
            rows.append(
                [name, r["concurrency"], r["rps"], r["p50_ms"], r["p99_ms"], r["errors"], r.get("cpu_ms_per_request")]
            )
        if t.get("error"):
            rows.append([name, "-", "-", "-", "-", t["error"], "-"])
    out += _table(["settings", "concurrency", "req/s", "p50 ms", "p99 ms", "errors", "CPU ms/req"], rows)
    if tuning.get("best_at_c4"):
        out += [
            "",
            "Best throughput at concurrency 4: " + ", ".join(f"{k}={v}" for k, v in tuning["best_at_c4"].items()),
        ]
    if tuning.get("deployed"):
        out += ["", "Default on this machine (app/capacity.py): " + _settings(tuning["deployed"])]
    cmp = tuning.get("default_vs_best_at_c4")
    if cmp:
        out += [
            "",
            f"Default / best at concurrency 4: {_ratio(cmp['rps'])} req/s, "
            f"{_ratio(cmp['capacity'])} capacity (CPU ms/req of the best over the default's).",
        ]
    return out


def _settings(s: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items())


def gateway_md(gateway: dict) -> list[str]:
    out = [
        "## Gateway overhead (POST /predict, " + gateway.get("model", "") + ")",
        "",
        "direct = the production gunicorn process; env entry = Traefik's production entry; "
        "gateway = Traefik's main entry (90/10 production/canary).",
        "",
    ]
    rows = [
        [path, r["concurrency"], r["rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["errors"]]
        for path in ("direct", "env entry", "gateway")
        for r in gateway.get(path, [])
    ]
    out += _table(["path", "concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)
    added = gateway.get("added_ms", {})
    if added:
        out += [
            "",
            "Added by the gateway (gateway minus direct): "
            + "; ".join(f"c={c}: p50 {v['p50']:+.2f} ms, p99 {v['p99']:+.2f} ms" for c, v in added.items()),
        ]
    return out


def lifecycle_md(lifecycle: dict) -> list[str]:
    out = ["## Lifecycle wall time (CI-size model, synthetic data)", ""]
    for run_name, run in lifecycle.items():
        if not isinstance(run, dict):
            continue
        out += [f"`{run_name}`: {_fmt(run.get('wall_s'))} s wall", ""]
        rows = []
        for k, v in run.get("grouped", {}).items():
            rows.append([k, v])
            if k == "train + gate + register":
                rows += [[f"- of which {p}", s] for p, s in run.get("flow_phases", {}).items()]
        out += _table(["step", "seconds"], rows)
        raw = ", ".join(f"{k} {v:.1f}" for k, v in run.get("steps", {}).items())
        out += ["", f"Every step (s): {raw}", ""]
    return out


def training_md(training: dict) -> list[str]:
    out = ["## Training throughput (forward + backward + optimizer step, CPU)", ""]
    rows = [
        [name, t["input_size"], str(t["width_mult"]), t["batch_size"], t["images_per_s"], t["torch_threads"]]
        for name, t in training.items()
        if isinstance(t, dict) and "images_per_s" in t
    ]
    return out + _table(["model", "input", "width", "batch", "images/s", "torch threads"], rows)


def soak_md(soak: dict) -> list[str]:
    if not soak:
        return []
    return ["## Soak", "", "```", json.dumps(soak, indent=2), "```"]


def _canary_md(part: dict) -> list[str]:
    from bench.canary_bench import canary_md

    return canary_md(part)


def _capture_md(part: dict) -> list[str]:
    from bench.capture_bench import capture_md

    return capture_md(part)


def write_markdown(results: dict) -> str:
    lines = ["# GourmetGram benchmark results", ""]
    m = results.get("machine", {})
    if m:
        lines += [
            f"Measured {m.get('date', '?')} on {m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}), "
            f"load average before the run {m.get('loadavg', '?')}; torch {m.get('torch', '?')}, "
            f"onnxruntime {m.get('onnxruntime', '?')}. Generated by `python -m bench`; do not edit by hand.",
            "",
        ]
    sections = (
        ("serving", serving_md),
        ("tuning", tuning_md),
        ("gateway", gateway_md),
        ("lifecycle", lifecycle_md),
        ("training", training_md),
        ("canary-analysis", _canary_md),
        ("capture", _capture_md),
    )
    for key, render in sections:
        part = results.get(key)
        if isinstance(part, dict) and part.get("error"):
            lines += [f"## {key}", "", f"Not measured: {part['error']}", ""]
        elif part:
            lines += render(part) + [""]
    text = "\n".join(lines).rstrip() + "\n"
    RESULTS_MD.write_text(text)
    return text


def write_charts(results: dict) -> list[Path]:
    CHARTS_DIR.mkdir(exist_ok=True)
    written = []
    serving = results.get("serving", {})
    setups = [k for k in SETUP_LABELS if serving.get(k)]
    if setups:
        written.append(_serving_throughput_chart(serving, setups))
        written.append(_serving_latency_chart(serving, setups))
    return written


def _serving_throughput_chart(serving: dict, setups: list[str]) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    concs = [r["concurrency"] for r in serving[setups[0]]]
    width = 0.8 / len(setups)
    for i, key in enumerate(setups):
        by_c = {r["concurrency"]: r["rps"] for r in serving[key]}
        xs = [j + i * width for j in range(len(concs))]
        bars = ax.bar(xs, [by_c.get(c, 0) for c in concs], width, label=SETUP_LABELS[key])
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks([j + width * (len(setups) - 1) / 2 for j in range(len(concs))], [f"c={c}" for c in concs])
    ax.set_ylim(top=ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    ax.set_ylabel("requests (inferences) per second")
    ax.set_title("POST /predict throughput by concurrency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = CHARTS_DIR / "serving_throughput.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _serving_latency_chart(serving: dict, setups: list[str]) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), sharey=False)
    for ax, pct in zip(axes, ("p50_ms", "p95_ms", "p99_ms"), strict=True):
        for key in setups:
            rs = serving[key]
            ax.plot([r["concurrency"] for r in rs], [r[pct] for r in rs], marker="o", label=SETUP_LABELS[key])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 4, 16], ["1", "4", "16"])
        ax.set_xlabel("concurrency")
        ax.set_title(pct.replace("_ms", "") + " latency (ms)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = CHARTS_DIR / "serving_latency.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
