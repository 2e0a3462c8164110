"""Terraform for the controller: the vendor's release zip, verified, unpacked into a user bin folder.

No root and no apt: HashiCorp publishes a zip per platform and one SHA256SUMS
file per release. The zip is checked against that file's line at download
time, and (for linux_amd64) also against the sha256 pinned here, so a changed
SHA256SUMS cannot slip a different binary in. Standard library only: this runs
before anything is installed, on Python 3.10-3.13.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from gourmetgram.errors import GourmetGramError

TERRAFORM_VERSION = "1.11.4"  # tf/kvm/versions.tf accepts >= 1.5, < 2.0; the offline checks run 1.11.4
RELEASES_URL = "https://releases.hashicorp.com/terraform"
# sha256 of terraform_1.11.4_<platform>.zip as HashiCorp's terraform_1.11.4_SHA256SUMS lists it
# (linux_amd64 found in two independent public pins of the release: a Nix derivation fetching
# releases.hashicorp.com and a Homebrew-style formula). Other platforms: SHA256SUMS alone.
PINNED_SHA256 = {
    "linux_amd64": "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc",
}
_CHUNK = 1 << 16


class TerraformInstallError(GourmetGramError):
    """The download or its verification failed; the message says what to do."""


def platform_tag(machine: str | None = None) -> str:
    """HashiCorp's platform name of this machine (linux_amd64, linux_arm64)."""
    arch = (machine or platform.machine()).lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(arch)
    if arch is None:
        raise TerraformInstallError(f"no Terraform build for machine {machine or platform.machine()!r}")
    return f"linux_{arch}"


def zip_name(version: str = TERRAFORM_VERSION, plat: str | None = None) -> str:
    return f"terraform_{version}_{plat or platform_tag()}.zip"


def release_urls(version: str = TERRAFORM_VERSION, plat: str | None = None, base_url: str = RELEASES_URL):
    """(zip URL, SHA256SUMS URL) of one release."""
    base = f"{base_url.rstrip('/')}/{version}"
    return f"{base}/{zip_name(version, plat)}", f"{base}/terraform_{version}_SHA256SUMS"


def expected_sha256(sums_text: str, filename: str) -> str:
    """The sha256 SHA256SUMS lists for filename (`<sha256>  <name>` lines)."""
    for line in sums_text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == filename:
            digest = parts[0].lower()
            if len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest):
                return digest
    raise TerraformInstallError(f"SHA256SUMS has no valid line for {filename}: refusing to install unverified")


def download(url: str, dest: Path, say: Callable[[str], None], label: str) -> str:
    """Stream url to dest with a progress line every 10 %; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:  # noqa: S310 (https/file only)
            total = int(resp.headers.get("Content-Length") or 0)
            done, shown, started = 0, -1, time.monotonic()
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if total and (pct := done * 100 // total // 10 * 10) > shown:
                    shown = pct
                    say(f"  {label}: {pct:3d}% of {total / 1e6:.1f} MB")
            say(f"  {label}: {done / 1e6:.1f} MB in {time.monotonic() - started:.1f}s")
    except OSError as exc:  # URLError, HTTPError and file errors are all OSError
        raise TerraformInstallError(f"could not download {url}: {exc}") from None
    return digest.hexdigest()


def installed_version(binary: Path) -> str | None:
    """`terraform version -json`'s version of binary, or None when absent or not runnable."""
    if not binary.is_file():
        return None
    try:
        out = subprocess.run([str(binary), "version", "-json"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    try:
        return str(json.loads(out.stdout)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        return None


def install(
    bin_dir: Path,
    version: str = TERRAFORM_VERSION,
    base_url: str = RELEASES_URL,
    pinned: dict[str, str] | None = None,
    plat: str | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """bin_dir/terraform at `version`, verified; skipped when that version is already there."""
    if pinned is None:  # the pins belong to TERRAFORM_VERSION only
        pinned = PINNED_SHA256 if version == TERRAFORM_VERSION else {}
    plat = plat or platform_tag()
    binary = bin_dir / "terraform"
    if installed_version(binary) == version:
        say(f"terraform {version} already in {bin_dir}")
        return binary
    zip_url, sums_url = release_urls(version, plat, base_url)
    bin_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=bin_dir, prefix=".terraform-") as tmp:
        sums_file, zip_file = Path(tmp) / "SHA256SUMS", Path(tmp) / "terraform.zip"
        download(sums_url, sums_file, say, "SHA256SUMS")
        want = expected_sha256(sums_file.read_text(errors="replace"), zip_name(version, plat))
        pin = pinned.get(plat)
        if pin and pin != want:
            raise TerraformInstallError(
                f"SHA256SUMS at {sums_url} lists {want} for {zip_name(version, plat)}, the pinned sha256 is {pin}: "
                "refusing to install (a changed release file)"
            )
        got = download(zip_url, zip_file, say, zip_name(version, plat))
        if got != want:
            raise TerraformInstallError(
                f"sha256 mismatch for {zip_url}: got {got}, SHA256SUMS says {want}; nothing installed "
                "(a damaged or altered download: run the setup again)"
            )
        say(f"  sha256 {got} matches SHA256SUMS" + (" and the pin" if pin else ""))
        try:
            with zipfile.ZipFile(zip_file) as zf:
                data = zf.read("terraform")
        except (zipfile.BadZipFile, KeyError) as exc:
            raise TerraformInstallError(f"{zip_url} is not a Terraform release zip: {exc}") from None
        staged = Path(tmp) / "terraform"
        staged.write_bytes(data)
        staged.chmod(0o755)
        os.replace(staged, binary)  # atomic: a half-written terraform is never on PATH
    say(f"terraform {version} installed: {binary}")
    return binary
