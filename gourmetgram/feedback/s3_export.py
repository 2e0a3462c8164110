"""`invoke feedback.export --from-s3 URL`: the cluster's capture, read from the object store.

On the cluster each environment's app pod runs an `mc mirror --watch` sidecar (k8s/app-common,
values `capture.objectStore`) that copies its capture directory to

    s3://<bucket>/<environment>/snapshot/capture.sqlite   a consistent copy (app/capture_snapshot.py)
    s3://<bucket>/<environment>/images/<id>.<ext>          the kept images

This module downloads, per environment prefix, the snapshot and the images of its labelled
predictions into a local capture directory, and exports each with export.export (the same
Food-11 layout as a local store). Credentials: the usual AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY (boto3's chain); the platform's MinIO keys are in the secret
minio-credentials.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from gourmetgram.feedback import CAPTURE_BUCKET
from gourmetgram.feedback.export import ExportError, export

SNAPSHOT_KEY = "snapshot/capture.sqlite"


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    if not endpoint.startswith(("http://", "https://")):
        raise ExportError(f"the S3 endpoint must be an http(s):// URL, got {endpoint!r}")
    # Path-style addressing: MinIO and `rclone serve s3` serve buckets under the path.
    return boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def environments(s3, bucket: str) -> list[str]:
    """The prefixes of the bucket that hold a snapshot (one per environment that captured)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/")
        prefixes = [p["Prefix"].rstrip("/") for page in pages for p in page.get("CommonPrefixes", [])]
    except (ClientError, BotoCoreError) as exc:  # BotoCoreError: no keys, nothing listening, ...
        raise ExportError(f"cannot list bucket {bucket!r}: {exc}") from None
    found = []
    for prefix in prefixes:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{SNAPSHOT_KEY}", MaxKeys=1)
        if listed.get("KeyCount", 0):
            found.append(prefix)
    return found


def download(s3, bucket: str, prefix: str, dest: Path) -> tuple[int, int]:
    """A capture directory at dest: the snapshot as capture.sqlite + the labelled, kept images.

    Returns (images downloaded, images missing): an image the snapshot names may have been
    evicted (and removed from the bucket) after the snapshot; it is skipped, like a local export does.
    """
    from botocore.exceptions import ClientError

    from app import capture_store

    dest.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, f"{prefix}/{SNAPSHOT_KEY}", str(dest / capture_store.DB_NAME))
    try:
        paths = [image.relative_to(dest) for image, _label, _pid in capture_store.labelled_images(dest)]
    except sqlite3.DatabaseError as exc:
        raise ExportError(f"s3://{bucket}/{prefix}/{SNAPSHOT_KEY} is not a capture snapshot: {exc}") from None
    got = missing = 0
    for rel in paths:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, f"{prefix}/{rel.as_posix()}", str(target))
            got += 1
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                raise
            missing += 1
    return got, missing


def export_from_s3(endpoint: str, out: str | Path, bucket: str = CAPTURE_BUCKET, say=print) -> dict[str, int]:
    """Export every environment's labelled images from the bucket to out; the count per class."""
    s3 = client(endpoint)
    envs = environments(s3, bucket)
    if not envs:
        raise ExportError(f"no capture snapshot in s3://{bucket}/<environment>/{SNAPSHOT_KEY} at {endpoint}")
    total: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="gg-capture-") as tmp:
        for env in envs:
            got, missing = download(s3, bucket, env, Path(tmp) / env)
            counts = export(Path(tmp) / env, out, say=say)
            say(f"  {env}: {sum(counts.values())} labelled images ({missing} named by the snapshot but gone)")
            for name, n in counts.items():
                total[name] = total.get(name, 0) + n
    return total
