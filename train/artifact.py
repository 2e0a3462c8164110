"""Load a registered model artifact directory (model.json + model.onnx or model.pth) for inference.

Used by the model tests (the gate) and the export tests. The app has its own
onnxruntime loader; this one also understands the lab's state-dict format,
whose model tests pass although the app cannot serve it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from train import export

Predictor = Callable[[np.ndarray], np.ndarray]


class ArtifactError(ValueError):
    """The artifact directory is incomplete or inconsistent."""


def load_predictor(model_dir: str | Path) -> tuple[Predictor, dict]:
    """(logits function on float32 [N,3,S,S], model.json) for the artifact in model_dir."""
    model_dir = Path(model_dir)
    try:
        meta = export.read_metadata(model_dir)
    except FileNotFoundError:
        raise ArtifactError(f"{model_dir}: no {export.META_FILE}") from None
    fmt = meta.get("format")
    if fmt == "onnx":
        return _onnx_predictor(model_dir / export.ONNX_FILE), meta
    if fmt == "state-dict":
        return _torch_predictor(model_dir / export.STATE_DICT_FILE, meta), meta
    raise ArtifactError(f"{model_dir}: unknown model format {fmt!r}")


def _onnx_predictor(path: Path) -> Predictor:
    import onnxruntime as ort

    if not path.is_file():
        raise ArtifactError(f"{path} missing")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        return session.run([export.OUTPUT_NAME], {export.INPUT_NAME: np.asarray(x, dtype=np.float32)})[0]

    return predict


def _torch_predictor(path: Path, meta: dict) -> Predictor:
    import torch

    from train.model import mobilenet_v2

    if not path.is_file():
        raise ArtifactError(f"{path} missing")
    model = mobilenet_v2(num_classes=len(meta["classes"]), width_mult=float(meta.get("width_mult", 1.0)))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    return predict


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
