"""train/flow.py: user errors end with a one-line message and a documented exit code, never a traceback."""

from __future__ import annotations

import shutil

import pytest
import torch

from gourmetgram.proc_helpers import free_port
from train import flow
from train.model import mobilenet_v2


@pytest.fixture
def unreachable_uri():
    return f"http://127.0.0.1:{free_port()}"


def _run(capsys, *argv):
    code = flow.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_no_data_source(capsys, unreachable_uri, tmp_path, monkeypatch):
    monkeypatch.delenv("GG_DATA_DIR", raising=False)
    code, err = _run(capsys, "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v"))
    assert code == flow.EXIT_USAGE and "no data" in err


def test_no_tracking_uri(capsys, small_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, err = _run(capsys, "--data", str(small_dataset), "--version-file", str(tmp_path / "v"))
    assert code == flow.EXIT_USAGE and "MLFLOW_TRACKING_URI" in err


def test_missing_split(capsys, small_dataset, tmp_path, unreachable_uri):
    root = tmp_path / "data"
    shutil.copytree(small_dataset, root)
    shutil.rmtree(root / "validation")
    code, err = _run(
        capsys, "--data", str(root), "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v")
    )
    assert code == flow.EXIT_USAGE and "missing split 'validation'" in err


def test_negative_epochs(capsys, small_dataset, tmp_path, unreachable_uri):
    code, err = _run(capsys, "--data", str(small_dataset), "--epochs", "-1", "--tracking-uri", unreachable_uri,
                     "--version-file", str(tmp_path / "v"))  # fmt: skip
    assert code == flow.EXIT_USAGE and "epochs must be >= 0" in err


def test_unreadable_checkpoint(capsys, small_dataset, tmp_path, unreachable_uri):
    ckpt = tmp_path / "food11.pth"
    ckpt.write_text("not a checkpoint")
    code, err = _run(capsys, "--data", str(small_dataset), "--preset", "ci", "--init-checkpoint", str(ckpt),
                     "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v"))  # fmt: skip
    assert code == flow.EXIT_USAGE and "not a readable state-dict checkpoint" in err


def test_checkpoint_of_another_width(capsys, small_dataset, tmp_path, unreachable_uri):
    ckpt = tmp_path / "wide.pth"
    torch.save(mobilenet_v2(width_mult=1.0).state_dict(), ckpt)
    code, err = _run(capsys, "--data", str(small_dataset), "--preset", "ci", "--init-checkpoint", str(ckpt),
                     "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v"))  # fmt: skip
    assert code == flow.EXIT_USAGE and "does not fit this MobileNetV2" in err


def test_unreachable_mlflow(capsys, small_dataset, tmp_path, unreachable_uri):
    version_file = tmp_path / "v"
    code, err = _run(capsys, "--data", str(small_dataset), "--preset", "ci", "--tracking-uri", unreachable_uri,
                     "--version-file", str(version_file))  # fmt: skip
    assert code == flow.EXIT_MLFLOW and "not reachable" in err
    assert version_file.read_text() == ""  # nothing registered


def test_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        flow.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--artifact-format" in out and "1 model tests failed" in out


def test_a_checkpoint_url_needs_its_sha256(capsys, small_dataset, tmp_path, unreachable_uri):
    ckpt = tmp_path / "ci.pth"
    torch.save(mobilenet_v2(width_mult=0.35).state_dict(), ckpt)
    common = ["--data", str(small_dataset), "--preset", "ci", "--tracking-uri", unreachable_uri,
              "--version-file", str(tmp_path / "v"), "--init-checkpoint", ckpt.as_uri()]  # fmt: skip
    code, err = _run(capsys, *common)
    assert code == flow.EXIT_USAGE and "pass --init-checkpoint-sha256" in err
    code, err = _run(capsys, *common, "--init-checkpoint-sha256", "0" * 64)
    assert code == flow.EXIT_USAGE and "sha256 mismatch" in err and "nothing kept" in err


def test_a_checkpoint_url_with_the_right_sha256_loads(capsys, small_dataset, tmp_path, unreachable_uri):
    import hashlib

    ckpt = tmp_path / "ci.pth"
    torch.save(mobilenet_v2(width_mult=0.35).state_dict(), ckpt)
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    code, err = _run(capsys, "--data", str(small_dataset), "--preset", "ci", "--tracking-uri", unreachable_uri,
                     "--version-file", str(tmp_path / "v"), "--init-checkpoint", ckpt.as_uri(),
                     "--init-checkpoint-sha256", sha)  # fmt: skip
    # Downloaded, verified and loaded: the flow got as far as MLflow (unreachable here).
    assert code == flow.EXIT_MLFLOW and "is not reachable" in err


def test_a_pretrained_backbone_with_another_head_loads_under_a_new_head(tmp_path, capsys):
    """torchvision's ImageNet MobileNetV2 (1000 classes): the backbone is taken, the 11-class head kept."""
    imagenet = mobilenet_v2(num_classes=1000, width_mult=0.35)
    ckpt = tmp_path / "imagenet.pth"
    torch.save(imagenet.state_dict(), ckpt)
    ours = mobilenet_v2(width_mult=0.35)
    head_before = ours.classifier[1].weight.clone()
    flow.load_checkpoint(ours, ckpt)
    assert torch.equal(ours.features[3].conv[0][0].weight, imagenet.features[3].conv[0][0].weight)
    assert torch.equal(ours.classifier[1].weight, head_before) and ours.classifier[1].out_features == 11
    assert "its 1000-class head replaced by a new 11-class head" in capsys.readouterr().out
    # A different backbone (width) is still refused with the reason.
    torch.save(mobilenet_v2(num_classes=1000, width_mult=1.0).state_dict(), ckpt)
    with pytest.raises(flow.FlowError, match="does not fit this MobileNetV2"):
        flow.load_checkpoint(mobilenet_v2(width_mult=0.35), ckpt)


def test_extra_data_is_read_into_the_training_split(capsys, small_dataset, tmp_path, unreachable_uri):
    """--extra-data (what `invoke feedback.export` writes: some classes only) joins the training split."""
    extra = tmp_path / "feedback"
    egg = extra / "training" / "Egg"
    egg.mkdir(parents=True)
    src = sorted((small_dataset / "training").glob("*/*.jpg"))[:2]
    for i, path in enumerate(src):
        shutil.copy(path, egg / f"p{i}.jpg")
    code = flow.main(["--data", str(small_dataset), "--extra-data", str(extra), "--preset", "ci",
                      "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == flow.EXIT_MLFLOW  # the data was read before MLflow was asked
    assert f"extra training data: 2 images from {extra}" in out
    assert "data: training 35," in out  # 3 per class + the 2 extra


def test_missing_extra_data(capsys, small_dataset, tmp_path, unreachable_uri):
    code, err = _run(capsys, "--data", str(small_dataset), "--extra-data", str(tmp_path / "nothing"),
                     "--tracking-uri", unreachable_uri, "--version-file", str(tmp_path / "v"))  # fmt: skip
    assert code == flow.EXIT_USAGE and "dataset directory not found" in err
