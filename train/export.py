"""Export a trained model as the registered artifact: model.onnx + model.json.

model.json is what the app (and the model tests) need to use the model without
torch: the class list in output order, the input size and the preprocessing.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gourmetgram import preprocess

ONNX_FILE = "model.onnx"
STATE_DICT_FILE = "model.pth"
META_FILE = "model.json"
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 17


def model_metadata(fmt: str, classes: Sequence[str], input_size: int, **extra: Any) -> dict[str, Any]:
    """The model.json contract shared with the app and the model tests."""
    return {
        "format": fmt,
        "classes": list(classes),
        "input_size": int(input_size),
        "resize_size": preprocess.resize_size_for(input_size),
        "mean": list(preprocess.IMAGENET_MEAN),
        "std": list(preprocess.IMAGENET_STD),
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        **extra,
    }


def write_metadata(out_dir: Path, meta: dict[str, Any]) -> Path:
    path = Path(out_dir) / META_FILE
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_metadata(model_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(model_dir) / META_FILE).read_text())


def export_onnx(
    model: torch.nn.Module, out_dir: str | Path, input_size: int, classes: Sequence[str], **extra: Any
) -> Path:
    """Write out_dir/model.onnx (input "input" [N,3,S,S], output "logits" [N,C]) and model.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ONNX_FILE
    was_training = model.training
    model.eval()
    try:
        dummy = torch.zeros(1, 3, input_size, input_size)
        # The TorchScript exporter (dynamo=False) is deliberate: it needs no onnxscript and
        # handles MobileNetV2 fully; silence its deprecation notice.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (dummy,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    write_metadata(out_dir, model_metadata("onnx", classes, input_size, **extra))
    return path


def export_state_dict(
    model: torch.nn.Module, out_dir: str | Path, input_size: int, classes: Sequence[str], **extra: Any
) -> Path:
    """The lab's bad-model format: only a state dict (model.pth), no model.onnx.

    The model tests can rebuild the network from it and pass; the app, which
    loads model.onnx, cannot serve it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / STATE_DICT_FILE
    torch.save(model.state_dict(), path)
    write_metadata(out_dir, model_metadata("state-dict", classes, input_size, **extra))
    return path
