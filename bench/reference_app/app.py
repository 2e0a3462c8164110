"""BASELINE FOR BENCHMARKS ONLY - NOT PRODUCT CODE. The product app is app/ (gunicorn + onnxruntime).

A faithful reproduction of the reference lab's serving path, so that `python -m bench`
can compare our app against it on the same machine with the same model architecture:
- Flask development server (app.run, threaded as Flask's default), no gunicorn;
- torch eager MobileNetV2 loaded as a WHOLE pickled model object
  (torch.save(model) / torch.load(weights_only=False)), as the reference's food11.pth;
- every upload saved to disk first, then read back from the saved path;
- preprocessing equivalent to torchvision's Resize(256) / CenterCrop(224) / ToTensor /
  Normalize(ImageNet), written in torch + PIL (torchvision does not work on this machine).

Run: python -m bench.reference_app.app --model model.pt --uploads DIR --port PORT
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from flask import Flask, request
from PIL import Image
from werkzeug.utils import secure_filename

from gourmetgram import names

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def resize_short_side(img: Image.Image, size: int = 256) -> Image.Image:
    """torchvision Resize(int): the short side becomes `size`, the long side int(size * long / short)."""
    w, h = img.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    return img.resize((new_w, new_h), Image.BILINEAR)


def center_crop(img: Image.Image, size: int = 224) -> Image.Image:
    """torchvision CenterCrop(int) on an image at least `size` on each side."""
    w, h = img.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_tensor_normalised(img: Image.Image) -> torch.Tensor:
    """torchvision ToTensor (HWC uint8 -> CHW float in [0, 1]) then Normalize(ImageNet)."""
    t = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255.0)
    return (t - MEAN) / STD


def preprocess_image(img: Image.Image) -> torch.Tensor:
    return to_tensor_normalised(center_crop(resize_short_side(img))).unsqueeze(0)


def create_app(model_path: str, uploads: str) -> Flask:
    app = Flask(__name__)
    os.makedirs(uploads, exist_ok=True)
    # As the reference: the whole pickled model object, not a state dict.
    model = torch.load(model_path, map_location=torch.device("cpu"), weights_only=False)
    model.eval()

    def model_predict(img_path: str) -> tuple[str, float]:
        img = Image.open(img_path).convert("RGB")
        batch = preprocess_image(img)
        with torch.no_grad():
            output = model(batch)
            prob, predicted = torch.max(torch.softmax(output, dim=1), 1)
        return names.CLASSES[predicted.item()], prob.item()

    @app.route("/predict", methods=["GET", "POST"])
    def upload():
        if request.method == "POST":
            f = request.files["file"]
            img_path = os.path.join(uploads, secure_filename(f.filename))
            f.save(img_path)
            preds, _probs = model_predict(img_path)
            return f'<button type="button" class="btn btn-info btn-sm">{preds}</button>'
        return '<a href="#" class="badge badge-warning">Warning</a>'

    @app.route("/healthz")
    def healthz():
        return "ok"

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="BASELINE reference serving path (benchmarks only)")
    parser.add_argument("--model", required=True, help="whole model saved with torch.save(model)")
    parser.add_argument("--uploads", required=True, help="directory the uploads are saved to")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    create_app(args.model, args.uploads).run(host=args.host, port=args.port, debug=False)


if __name__ == "__main__":
    main()
