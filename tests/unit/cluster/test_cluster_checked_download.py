"""ansible/tasks/checked_download.yml, run for real by ansible-playbook on localhost.

Downloads come from file:// URLs in tmp_path, so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

from gourmetgram.paths import REPO_ROOT

TASKS = REPO_ROOT / "ansible/tasks/checked_download.yml"


def run_download(tmp_path: Path, entry: dict) -> subprocess.CompletedProcess:
    playbook = [
        {
            "name": "checked download",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"gg_downloads": {"thing": entry}},
            "tasks": [
                {
                    "ansible.builtin.include_tasks": str(TASKS),
                    "vars": {"download_name": "thing", "dest": str(tmp_path / "out.bin")},
                }
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(playbook))
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / ".ansible"), "ANSIBLE_NOCOLOR": "1"}
    bindir = Path(sys.executable).parent
    return subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def publish(tmp_path: Path, content: bytes) -> tuple[str, str]:
    src = tmp_path / "release" / "tool-linux-amd64"
    src.parent.mkdir(parents=True)
    src.write_bytes(content)
    return src.as_uri(), hashlib.sha256(content).hexdigest()


def test_refuses_a_download_without_any_checksum(tmp_path):
    url, _ = publish(tmp_path, b"binary")
    result = run_download(tmp_path, {"version": "v1", "url": url, "sha256": ""})
    assert result.returncode != 0
    assert "Refusing" in result.stdout
    assert not (tmp_path / "out.bin").exists()


def test_pinned_sha256_verifies_and_a_wrong_one_fails(tmp_path):
    url, digest = publish(tmp_path, b"binary")
    ok = run_download(tmp_path, {"version": "v1", "url": url, "sha256": digest})
    assert ok.returncode == 0, ok.stdout
    assert (tmp_path / "out.bin").read_bytes() == b"binary"
    (tmp_path / "out.bin").unlink()
    bad = run_download(tmp_path, {"version": "v1", "url": url, "sha256": "0" * 64})
    assert bad.returncode != 0
    assert not (tmp_path / "out.bin").exists()


def test_publisher_checksum_file_is_used_when_no_sha256_is_pinned(tmp_path):
    url, digest = publish(tmp_path, b"binary")
    sums = tmp_path / "release" / "cli_checksums.txt"
    sums.write_text(f"{digest}  tool-linux-amd64\n{'1' * 64}  tool-darwin-amd64\n")
    ok = run_download(tmp_path, {"version": "v1", "url": url, "sha256": "", "sha256_url": sums.as_uri()})
    assert ok.returncode == 0, ok.stdout
    (tmp_path / "out.bin").unlink()
    sums.write_text(f"{'2' * 64}  tool-linux-amd64\n")
    bad = run_download(tmp_path, {"version": "v1", "url": url, "sha256": "", "sha256_url": sums.as_uri()})
    assert bad.returncode != 0
