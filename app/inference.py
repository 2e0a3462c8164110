"""The registered model in the app: model.onnx + model.json, run with onnxruntime.

No torch here (the app image does not have it). Decoding and preprocessing are
the shared implementation in gourmetgram.preprocess, the same one training
evaluation uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app import drift, profiling
from gourmetgram import names, preprocess

ONNX_FILE = "model.onnx"
META_FILE = "model.json"
# onnxruntime threads per worker process. gunicorn runs GG_WORKERS processes on
# the same cores, so one intra-op thread each keeps them from fighting.
ORT_THREADS_ENV = "GG_ORT_THREADS"
DEFAULT_ORT_THREADS = 1


class ModelLoadError(RuntimeError):
    """The model directory does not hold a model the app can serve; the message says why."""


@dataclass(frozen=True)
class Prediction:
    class_name: str
    confidence: float
    probabilities: dict[str, float]
    # Where this input falls in the model's drift reference (app/drift.py); not part of the answer.
    drift: drift.InputDrift | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        return {"class_name": self.class_name, "confidence": self.confidence, "probabilities": self.probabilities}


def read_metadata(model_dir: Path) -> dict:
    """model.json, checked against the contract; ModelLoadError with the reason otherwise."""
    meta_path = model_dir / META_FILE
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{meta_path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{meta_path} is not readable JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{meta_path} must hold a JSON object")
    fmt = meta.get("format")
    if fmt != "onnx":
        present = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "nothing"
        raise ModelLoadError(
            f"model format is {fmt!r} but the app serves only 'onnx' (model.onnx); {model_dir} holds: {present}"
        )
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelLoadError(f"{meta_path}: 'classes' must be a non-empty list of class names")
    if list(classes) != list(names.CLASSES):
        raise ModelLoadError(f"{meta_path}: classes {classes} differ from the Food-11 classes {list(names.CLASSES)}")
    size = meta.get("input_size")
    if not isinstance(size, int) or size < 8:
        raise ModelLoadError(f"{meta_path}: 'input_size' must be an integer >= 8, got {size!r}")
    return meta


def session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads burn the CPU that other workers need between requests.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def ort_threads_from_env() -> int:
    raw = os.environ.get(ORT_THREADS_ENV, str(DEFAULT_ORT_THREADS))
    try:
        threads = int(raw)
    except ValueError:
        raise ModelLoadError(f"{ORT_THREADS_ENV} must be a positive integer, got {raw!r}") from None
    if threads < 1:
        raise ModelLoadError(f"{ORT_THREADS_ENV} must be a positive integer, got {raw!r}")
    return threads


class Classifier:
    """One onnxruntime session for the model in model_dir (loaded and checked at construction)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        self.model_dir = Path(model_dir)
        self.meta = read_metadata(self.model_dir)
        self.classes: tuple[str, ...] = tuple(self.meta["classes"])
        self.input_size: int = self.meta["input_size"]
        self.resize_size: int = int(self.meta.get("resize_size") or preprocess.resize_size_for(self.input_size))
        self.mean = tuple(self.meta.get("mean", preprocess.IMAGENET_MEAN))
        self.std = tuple(self.meta.get("std", preprocess.IMAGENET_STD))
        onnx_path = self.model_dir / ONNX_FILE
        if not onnx_path.is_file():
            raise ModelLoadError(f"{onnx_path} is missing")
        try:
            self.session = ort.InferenceSession(
                str(onnx_path),
                sess_options=session_options(threads or ort_threads_from_env()),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelLoadError(f"onnxruntime cannot load {onnx_path}: {exc}") from None
        self.input_name = self.meta.get("input_name", "input")
        self.output_name = self.meta.get("output_name", "logits")
        self.drift_reference = drift.reference_of(self.meta)
        self._check_signature()

    def _check_signature(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if self.input_name not in inputs:
            raise ModelLoadError(f"model.onnx has no input {self.input_name!r} (inputs: {sorted(inputs)})")
        if self.output_name not in outputs:
            raise ModelLoadError(f"model.onnx has no output {self.output_name!r} (outputs: {sorted(outputs)})")
        # One real inference proves the graph runs and answers one score per class.
        dummy = np.zeros((1, 3, self.input_size, self.input_size), dtype=np.float32)
        try:
            (logits,) = self.session.run([self.output_name], {self.input_name: dummy})
        except Exception as exc:
            shape = [1, 3, self.input_size, self.input_size]
            raise ModelLoadError(f"model.onnx does not run on a {shape} input: {exc}") from None
        if logits.shape != (1, len(self.classes)):
            raise ModelLoadError(f"model.onnx answers shape {list(logits.shape)}, expected [1, {len(self.classes)}]")

    def predict_bytes(self, data: bytes) -> Prediction:
        """Decode, preprocess and classify one uploaded image; ImageError for bad input."""
        img = preprocess.load_image(data, draft_size=self.resize_size)
        profiling.lap("decode")
        return self.predict_image(img)

    def predict_image(self, img) -> Prediction:
        x = preprocess.preprocess(img, self.input_size, self.resize_size, self.mean, self.std)[np.newaxis]
        profiling.lap("preprocess")
        (logits,) = self.session.run([self.output_name], {self.input_name: x})
        profiling.lap("inference")
        probs = softmax(logits[0].astype(np.float64))
        best = int(np.argmax(probs))
        pred = Prediction(
            class_name=self.classes[best],
            confidence=float(probs[best]),
            probabilities={c: float(p) for c, p in zip(self.classes, probs, strict=True)},
            drift=drift.measure(self.drift_reference, x[0], self.mean, self.std, float(probs[best])),
        )
        profiling.lap("postprocess")
        return pred


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - np.max(logits)
    e = np.exp(shifted)
    return e / e.sum()
