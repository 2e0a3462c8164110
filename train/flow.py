"""The training flow the training container runs: train -> export -> model tests -> register.

    python train/flow.py --synthetic --preset ci                 # tiny model on synthetic data
    python train/flow.py --data /mnt/Food-11 --preset full       # the reference schedule
    python train/flow.py --data D --init-checkpoint food11.pt --epochs 0   # the lab: no training
    python train/flow.py --data D --init-checkpoint https://.../food11.pth --init-checkpoint-sha256 H --epochs 0

MLflow: MLFLOW_TRACKING_URI (or --tracking-uri); experiment food11-classifier.
The model tests (train/tests/) run with pytest against the exported artifact:
evaluation accuracy >= --threshold, every class's recall >= --recall-floor, and,
once a model serves production (alias `production`), accuracy at most
--champion-margin below it on the same evaluation images (train/evaluation.py).
Their output is logged as test_logs/pytest_output.txt with the metrics
tests_ran/tests_passed/tests_failed, and the evaluation report (per-class table,
confusion matrix, comparison) under evaluation/. Only when all pass is a version of
GourmetGramFood11Model registered and its number written to --version-file
(otherwise that file is left empty and nothing is registered).

Exit codes: 0 registered; 1 model tests failed (nothing registered);
2 bad arguments or data; 3 MLflow unreachable or registry error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python train/flow.py): import the repository's packages, not train/'s
    # modules as top-level names (a bare `config` or `data` would shadow other packages).
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from gourmetgram.paths import REPO_ROOT
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV

os.environ.update(NO_TELEMETRY_ENV)

import mlflow  # noqa: E402 - after the telemetry switch
import requests  # noqa: E402
import torch  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from gourmetgram import names  # noqa: E402
from train import config, data, drift_reference, export, fetch, layout, synthetic, trainer  # noqa: E402
from train.model import mobilenet_v2  # noqa: E402

EXIT_OK = 0
EXIT_TESTS_FAILED = 1
EXIT_USAGE = 2
EXIT_MLFLOW = 3
TESTS_DIR = Path(__file__).resolve().parent / "tests"
PYTEST_LOG_ARTIFACT = "test_logs/pytest_output.txt"
EVALUATION_ARTIFACT_DIR = "evaluation"
MODEL_ARTIFACT_DIR = "model"
DEFAULT_VERSION_FILE = "/tmp/model_version"


class FlowError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class GateResult:
    returncode: int
    output: str
    ran: int
    passed: int
    failed: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.ran > 0 and self.failed == 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="train/flow.py",
        description="Train the GourmetGram food classifier, run the model tests, register it in MLflow if they pass.",
        epilog="Exit codes: 0 registered, 1 model tests failed (nothing registered), 2 bad arguments or data, "
        "3 MLflow unreachable or registry error.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, default=os.environ.get("GG_DATA_DIR"), help="Food-11 root (env GG_DATA_DIR)")
    src.add_argument("--synthetic", action="store_true", help="generate the synthetic dataset and train on it")
    p.add_argument(
        "--extra-data",
        type=Path,
        default=os.environ.get("GG_EXTRA_DATA_DIR") or None,
        help="more training images: DIR/training/<class>/, any classes (e.g. `invoke feedback.export`; "
        "env GG_EXTRA_DATA_DIR); validation and evaluation stay as they are",
    )
    p.add_argument("--synthetic-dir", type=Path, help="where --synthetic writes the data (default: a temp dir)")
    p.add_argument("--preset", choices=config.PRESETS, default="full", help="hyperparameter preset (default full)")
    p.add_argument("--epochs", type=int, help="total epochs over both phases (head-only first); 0 = no training")
    p.add_argument("--head-epochs", type=int, help="head-only epochs")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--input-size", type=int)
    p.add_argument("--width-mult", type=float)
    p.add_argument("--num-workers", type=int)
    p.add_argument("--threads", type=int, dest="torch_threads", help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", choices=config.DEVICES)
    p.add_argument("--seed", type=int)
    p.add_argument("--threshold", type=float, help="minimum evaluation accuracy of the model tests (default 0.8)")
    p.add_argument("--recall-floor", type=float, help="minimum recall of every class (default 0.25)")
    p.add_argument(
        "--champion-margin", type=float, help="accuracy the candidate may lose against production (default 0.02)"
    )
    p.add_argument("--on-bad-image", choices=data.ON_BAD_IMAGE, help="unreadable image: skip and count, or fail")
    p.add_argument(
        "--init-checkpoint",
        help="start from this state dict: a path, or an http(s):// or file:// URL with --init-checkpoint-sha256 "
        "(the lab's emulated training: add --epochs 0)",
    )
    p.add_argument("--init-checkpoint-sha256", help="sha256 the downloaded --init-checkpoint must have")
    p.add_argument("--save-checkpoint", type=Path, help="also save the trained state dict here")
    p.add_argument(
        "--artifact-format",
        choices=("onnx", "state-dict"),
        default="onnx",
        help="onnx (what the app serves) or state-dict (the lab's bad model: tests pass, the app cannot load it)",
    )
    p.add_argument("--version-file", type=Path, default=Path(DEFAULT_VERSION_FILE), help="registered version goes here")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"), help="env MLFLOW_TRACKING_URI")
    p.add_argument("--run-name", help="MLflow run name")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> config.TrainConfig:
    cfg = config.preset(args.preset)
    overrides = {
        k: getattr(args, k)
        for k in (
            "head_epochs",
            "batch_size",
            "input_size",
            "width_mult",
            "num_workers",
            "torch_threads",
            "device",
            "seed",
            "threshold",
            "recall_floor",
            "champion_margin",
            "on_bad_image",
        )
        if getattr(args, k) is not None
    }
    cfg = cfg.replace(**overrides)
    if args.epochs is not None:
        cfg = cfg.with_epochs(args.epochs)
    return cfg.validate()


def check_tracking_server(uri: str) -> str:
    if uri.startswith(("http://", "https://")):
        try:
            requests.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
        except requests.RequestException as exc:
            raise FlowError(f"MLflow server {uri} is not reachable: {exc}", EXIT_MLFLOW) from None
    return uri


def resolve_checkpoint(value: str, sha256: str | None, work: Path) -> Path:
    """A local checkpoint path; a URL is downloaded into work and kept only if its sha256 matches."""
    if not fetch.is_url(value):
        if sha256:
            got = hashlib.sha256(Path(value).read_bytes()).hexdigest() if Path(value).is_file() else None
            if got is not None and got != sha256.strip().lower():
                raise FlowError(f"{value}: sha256 {got} is not --init-checkpoint-sha256 {sha256}")
        return Path(value)
    if not sha256:
        raise FlowError(f"--init-checkpoint {value} is a URL: pass --init-checkpoint-sha256 (downloads are pinned)")
    print(f"downloading the initial checkpoint {value}", flush=True)
    try:
        return fetch.fetch(value, sha256, work / "init-checkpoint.pth", say=lambda line: print(line, flush=True))
    except fetch.FetchError as exc:
        raise FlowError(str(exc)) from None


def load_checkpoint(model: torch.nn.Module, path: Path) -> None:
    if not path.is_file():
        raise FlowError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FlowError(f"{path}: not a readable state-dict checkpoint ({exc.__class__.__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    head = {k: v for k, v in model.state_dict().items() if k.startswith("classifier.")}
    theirs = {k: state.get(k) for k in head} if isinstance(state, dict) else {}
    if (
        head
        and all(getattr(v, "shape", None) is not None for v in theirs.values())
        and any(theirs[k].shape != head[k].shape for k in head)
    ):
        # A pretrained backbone with another head (torchvision's ImageNet weights: 1000 classes), as the
        # reference's real training starts: take the backbone, keep our fresh 11-class head.
        classes = next(iter(v.shape[0] for k, v in theirs.items() if k.endswith("weight")), "?")
        state = {**{k: v for k, v in state.items() if not k.startswith("classifier.")}, **head}
        print(f"{path}: backbone loaded; its {classes}-class head replaced by a new {len(names.CLASSES)}-class head")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[:3]
        raise FlowError(f"{path} does not fit this MobileNetV2 (check --width-mult): " + " ".join(first)) from None


@dataclass
class Champion:
    """The model serving production now: the candidate is compared with it."""

    version: str
    model_dir: Path


def fetch_champion(client: MlflowClient, uri: str, work: Path) -> Champion | None:
    """Download the artifact of the version aliased `production`, or None when there is none yet."""
    try:
        mv = client.get_model_version_by_alias(names.MODEL_NAME, names.ALIAS_PRODUCTION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc):
            return None
        raise
    dest = work / "champion"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dest), tracking_uri=uri)
    except (MlflowException, OSError) as exc:
        raise FlowError(f"could not download production's model (version {mv.version}): {exc}", EXIT_MLFLOW) from None
    return Champion(str(mv.version), Path(path))


def run_model_tests(
    model_dir: Path, data_root: Path, cfg: config.TrainConfig, work: Path, champion: Champion | None = None
) -> GateResult:
    junit = work / "gate-junit.xml"
    env = dict(os.environ)
    env.update(NO_TELEMETRY_ENV)
    env.update(
        GG_GATE_MODEL_DIR=str(model_dir),
        GG_GATE_DATA_DIR=str(data_root),
        GG_GATE_THRESHOLD=str(cfg.threshold),
        GG_GATE_RECALL_FLOOR=str(cfg.recall_floor),
        GG_GATE_CHAMPION_MARGIN=str(cfg.champion_margin),
        GG_GATE_ON_BAD_IMAGE=cfg.on_bad_image,
        GG_GATE_REPORT_DIR=str(work / EVALUATION_ARTIFACT_DIR),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
    )
    for key in ("GG_GATE_CHAMPION_DIR", "GG_GATE_CHAMPION_VERSION"):
        env.pop(key, None)
    if champion is not None:
        env.update(GG_GATE_CHAMPION_DIR=str(champion.model_dir), GG_GATE_CHAMPION_VERSION=champion.version)
    cmd = [
        sys.executable, "-m", "pytest", str(TESTS_DIR), "-v", "-rA", "--color=no",
        "-p", "no:cacheprovider", "--import-mode=importlib", "--rootdir", str(TESTS_DIR),
        f"--junitxml={junit}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    output = proc.stdout + (("\n" + proc.stderr) if proc.stderr.strip() else "")
    ran = failed = 0
    if junit.is_file():
        root = ET.parse(junit).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for s in suites:
            ran += int(s.get("tests", 0)) - int(s.get("skipped", 0))
            failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
    return GateResult(proc.returncode, output, ran, ran - failed, failed)


def evaluation_accuracy(model, cfg: config.TrainConfig, split: data.Split) -> float:
    ds = data.ImageDataset(split, data.EvalTransform(cfg.input_size), cache=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, num_workers=0)
    _, acc, _ = trainer.run_epoch(model, loader, torch.nn.CrossEntropyLoss(), trainer.select_device(cfg.device))
    return acc


def register(client: MlflowClient, run, fmt: str, cfg: config.TrainConfig, data_source: str = "") -> str:
    try:
        client.get_registered_model(names.MODEL_NAME)
    except MlflowException:
        try:
            client.create_registered_model(names.MODEL_NAME, description="GourmetGram Food-11 classifier")
        except MlflowException as exc:
            if "already exists" not in str(exc).lower():  # a concurrent flow created it
                raise
    mv = client.create_model_version(
        name=names.MODEL_NAME,
        source=f"{run.info.artifact_uri}/{MODEL_ARTIFACT_DIR}",
        run_id=run.info.run_id,
        tags={
            "artifact_format": fmt,
            "input_size": str(cfg.input_size),
            "preset": cfg.preset,
            "data_source": data_source,
        },
        description=f"{cfg.preset} preset, {fmt} artifact, input {cfg.input_size}px, data {data_source}",
    )
    return str(mv.version)


def log_evaluation_report(report_dir: Path) -> list[str]:
    """Log the gate's evaluation report to the active run and print its verdicts; the reasons it refuses."""
    report_file = report_dir / "report.json"
    if not report_file.is_file():  # the gate stopped before evaluating (e.g. the artifact does not load)
        return []
    report = json.loads(report_file.read_text())
    mlflow.log_artifacts(str(report_dir), EVALUATION_ARTIFACT_DIR)
    recalls = [r for r in report["per_class_recall"] if r is not None]
    metrics = {"min_class_recall": min(recalls)} if recalls else {}
    reasons = []
    if report["under_the_floor"]:
        pairs = zip(report["classes"], report["per_class_recall"], strict=True)
        under = ", ".join(f"{c} {r:.3f}" for c, r in pairs if c in report["under_the_floor"])
        reasons.append(f"class recall under the floor {report['recall_floor']:.2f}: {under}")
    champion = report["champion"]
    if champion is not None:
        metrics.update(champion_accuracy=champion["champion_accuracy"], accuracy_drop=champion["drop"])
        metrics["mcnemar_p_value"] = champion["test"]["p_value"]
        mlflow.set_tags({"champion_version": champion["champion_version"], "champion_ok": str(champion["ok"])})
        print(champion["explain"], flush=True)
        if not champion["ok"]:
            reasons.append(champion["explain"])
    mlflow.log_metrics(metrics)
    return reasons


def write_version_file(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(version + ("\n" if version else ""))


def flow(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        cfg = build_config(args)
    except ValueError as exc:
        raise FlowError(str(exc)) from None
    if not args.synthetic and not args.data:
        raise FlowError("no data: pass --data DIR (Food-11 layout), set GG_DATA_DIR, or use --synthetic")
    if not args.tracking_uri:
        raise FlowError("no MLflow server: set MLFLOW_TRACKING_URI or pass --tracking-uri")
    # Nothing registered yet: an empty version file means "no new model" to whoever reads it.
    write_version_file(args.version_file, "")

    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    trainer.seed_everything(cfg.seed)
    with tempfile.TemporaryDirectory(prefix="gg-flow-") as tmp:
        work = Path(tmp)
        if args.synthetic:
            data_root = args.synthetic_dir or work / "data"
            counts = synthetic.generate(data_root, cfg.seed, cfg.synthetic_images_per_class, cfg.synthetic_image_size)
            print(f"synthetic data: {sum(counts.values())} images in {data_root}", flush=True)
        else:
            data_root = Path(args.data)
        splits = data.scan_dataset(data_root, on_bad_image=cfg.on_bad_image)
        if args.extra_data:  # users' labelled images: training only, so the gates compare like with like
            extra = data.scan_split(args.extra_data, layout.TRAINING, on_bad_image=cfg.on_bad_image, partial=True)
            splits[layout.TRAINING].samples.extend(extra.samples)
            splits[layout.TRAINING].skipped.extend(extra.skipped)
            print(f"extra training data: {len(extra.samples)} images from {args.extra_data}", flush=True)
        skipped = sum(len(s.skipped) for s in splits.values())
        for s in splits.values():
            for path, reason in s.skipped:
                print(f"skipped {path}: {reason}", file=sys.stderr)
        print(
            "data: "
            + ", ".join(f"{k} {len(s.samples)}" for k, s in splits.items())
            + (f" ({skipped} unreadable images skipped)" if skipped else ""),
            flush=True,
        )

        model = mobilenet_v2(num_classes=len(names.CLASSES), width_mult=cfg.width_mult, dropout=cfg.dropout)
        if args.init_checkpoint:
            load_checkpoint(model, resolve_checkpoint(args.init_checkpoint, args.init_checkpoint_sha256, work))
            print(f"initial weights from {args.init_checkpoint}", flush=True)
        # What the model learnt from travels with it (model.json); the app flags a synthetic one.
        data_source = names.DATA_SYNTHETIC if synthetic.is_synthetic(data_root) else names.DATA_FOOD11
        uri = check_tracking_server(args.tracking_uri)

        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        try:
            mlflow.set_experiment(names.EXPERIMENT)
            run_ctx = mlflow.start_run(run_name=args.run_name)
        except MlflowException as exc:
            raise FlowError(f"MLflow: {exc}", EXIT_MLFLOW) from None
        with run_ctx as run:
            # Set by an alert's retraining (local hook, or train-model's `reason`, which is "manual" by default).
            reason = os.environ.get(names.TRAIN_REASON_ENV, "").strip()
            reason = "" if reason == names.TRAIN_REASON_MANUAL else reason
            mlflow.set_tags({names.TAG_TRIGGER: "alert" if reason else "manual", names.TAG_TRIGGER_REASON: reason})
            mlflow.log_params(
                {
                    **cfg.as_params(),
                    "artifact_format": args.artifact_format,
                    "init_checkpoint": str(args.init_checkpoint or ""),
                    "data": "synthetic" if args.synthetic else str(data_root),
                    "extra_data": str(args.extra_data or ""),
                    "data_source": data_source,
                    **{f"{k}_images": len(s.samples) for k, s in splits.items()},
                    "skipped_images": skipped,
                }
            )
            cache = cfg.cache_images
            train_set = data.ImageDataset(splits[layout.TRAINING], data.TrainTransform(cfg.input_size), cache)
            val_set = data.ImageDataset(splits[layout.VALIDATION], data.EvalTransform(cfg.input_size), cache)
            result = trainer.train(model, train_set, val_set, cfg, log=lambda line: print(line, flush=True))
            eval_acc = evaluation_accuracy(model, cfg, splits[layout.EVALUATION])
            mlflow.log_metrics({"evaluation_accuracy": eval_acc, "train_seconds": result.seconds})
            print(f"evaluation accuracy {eval_acc:.3f} after {result.epochs_run} epochs ({result.seconds:.1f} s)")
            if args.save_checkpoint:
                args.save_checkpoint.parent.mkdir(parents=True, exist_ok=True)
                torch.save(model.state_dict(), args.save_checkpoint)

            model_dir = work / MODEL_ARTIFACT_DIR
            exporter = export.export_onnx if args.artifact_format == "onnx" else export.export_state_dict
            model.cpu()
            exporter(
                model,
                model_dir,
                cfg.input_size,
                names.CLASSES,
                width_mult=cfg.width_mult,
                preset=cfg.preset,
                data_source=data_source,
                init_checkpoint=str(args.init_checkpoint or ""),
            )
            ref = drift_reference.attach(model_dir, data_root)  # the input drift reference, into model.json
            print(f"drift reference: {ref['images']} held-out images, mean confidence {ref['confidence_mean']:.3f}")

            champion = fetch_champion(client, uri, work)
            print(
                "running the model tests (train/tests): "
                + (f"against production version {champion.version}" if champion else "no production model yet"),
                flush=True,
            )
            gate = run_model_tests(model_dir, data_root, cfg, work, champion)
            mlflow.log_text(gate.output, PYTEST_LOG_ARTIFACT)
            mlflow.log_metrics({"tests_ran": gate.ran, "tests_passed": gate.passed, "tests_failed": gate.failed})
            reasons = log_evaluation_report(work / EVALUATION_ARTIFACT_DIR)
            if not gate.ok:
                print(gate.output)
                mlflow.set_tag("gate", "failed")
                mlflow.end_run(status="FAILED")
                print(
                    f"model tests FAILED ({gate.failed} of {gate.ran} failed): nothing registered; "
                    f"run {run.info.run_id} in experiment {names.EXPERIMENT} has the pytest output"
                    + "".join(f"\n  {r}" for r in reasons),
                    file=sys.stderr,
                )
                return EXIT_TESTS_FAILED
            mlflow.set_tag("gate", "passed")
            try:
                mlflow.log_artifacts(str(model_dir), MODEL_ARTIFACT_DIR)
                version = register(client, run, args.artifact_format, cfg, data_source)
            except (MlflowException, OSError, requests.RequestException) as exc:
                # The upload goes through the server (--serve-artifacts); its store may fail.
                raise FlowError(f"registering {names.MODEL_NAME} failed: {exc}", EXIT_MLFLOW) from None
    write_version_file(args.version_file, version)
    print(
        f"\nregistered {names.MODEL_NAME} version {version} ({names.version_string(version)}), "
        f"{args.artifact_format} artifact\n"
        f"  model tests: {gate.passed}/{gate.ran} passed; evaluation accuracy {eval_acc:.3f} "
        f"(threshold {cfg.threshold})\n"
        f"  run {run.info.run_id} in experiment {names.EXPERIMENT} at {uri}\n"
        f"  version written to {args.version_file}; total {time.perf_counter() - started:.1f} s"
    )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return flow(args)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (data.DataError, fetch.FetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (MlflowException, requests.RequestException) as exc:
        # The server went away or refused a call during the run.
        print(f"error: MLflow: {exc}", file=sys.stderr)
        return EXIT_MLFLOW


if __name__ == "__main__":
    sys.exit(main())
