"""The Gateway API CRDs, pinned once, for the cluster and for the offline checks.

ansible/vars/versions.yml pins each standard CRD file (a raw URL at the release's
commit and its sha256); the platform playbook installs exactly those files on the
cluster. The offline checks (tests/iac) validate the charts' Gateway API objects
against the same files, found here:

1. $GG_GATEWAY_SCHEMAS: a folder holding the files (any names: each file is
   matched to its pin by sha256), e.g. a copy made on a machine with network;
2. the cache `./lab setup` fills (.cache/gateway-api/<version>/), when the network
   allows the download.

Nothing unverified is ever used: a file whose sha256 matches no pin is refused.

    python -m gourmetgram.gateway_schemas fetch   # download + verify into the cache
    python -m gourmetgram.gateway_schemas where   # which files the checks would read
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from gourmetgram.errors import GourmetGramError
from gourmetgram.paths import REPO_ROOT

VERSIONS_FILE = REPO_ROOT / "ansible" / "vars" / "versions.yml"
CACHE_ROOT = REPO_ROOT / ".cache" / "gateway-api"
ENV = "GG_GATEWAY_SCHEMAS"
HOW_TO_GET = (
    f"run `./lab setup` where the network reaches GitHub (downloads the pinned CRDs into {CACHE_ROOT}), "
    f"or set {ENV} to a folder holding them"
)


class SchemaError(GourmetGramError):
    """The CRD files are present but wrong (a checksum or a folder that does not hold them)."""


@dataclass(frozen=True)
class CrdPin:
    name: str  # the download's key in versions.yml, e.g. gateway_api_crd_httproutes
    url: str
    sha256: str

    @property
    def crd(self) -> str:
        return self.name.removeprefix("gateway_api_crd_")


def load_pins(versions_file: Path | None = None) -> tuple[str, list[CrdPin]]:
    """(version, pins) of the Gateway API CRDs, as versions.yml lists them."""
    versions = yaml.safe_load((versions_file or VERSIONS_FILE).read_text())
    downloads = versions["gg_downloads"]
    pins = [CrdPin(n, downloads[n]["url"], downloads[n]["sha256"]) for n in versions["gg_gateway_api_crds"]]
    return versions["gg_gateway_api_version"], pins


def cache_dir(version: str) -> Path:
    return CACHE_ROOT / version


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def match_folder(folder: Path, pins: list[CrdPin]) -> dict[str, Path]:
    """{crd name: file} for the pinned CRDs found in folder, matched by sha256.

    A YAML file there that is a Gateway API CRD but matches no pin is an error
    (an edited or other-version file must not pass for the pinned one)."""
    by_sha = {p.sha256: p for p in pins}
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.y*ml")):
        pin = by_sha.get(_sha256(path))
        if pin is not None:
            found[pin.crd] = path
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
        if any("gateway.networking.k8s.io" in str(d) for d in crds):
            raise SchemaError(
                f"{path} is a Gateway API CRD whose sha256 matches none pinned in {VERSIONS_FILE.name}: refusing it"
            )
    return found


def locate(env: dict[str, str] | None = None) -> dict[str, Path]:
    """The verified CRD files the offline checks read; {} when there are none (see HOW_TO_GET)."""
    env = os.environ if env is None else env
    version, pins = load_pins()
    explicit = env.get(ENV)
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise SchemaError(f"{ENV}={explicit} is not a folder")
        found = match_folder(folder, pins)
        if not found:
            raise SchemaError(f"{ENV}={explicit} holds none of the pinned Gateway API {version} CRD files")
        return found
    folder = cache_dir(version)
    return match_folder(folder, pins) if folder.is_dir() else {}


def _download(url: str, dest: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as fh:  # noqa: S310 (pinned URLs)
        while chunk := resp.read(1 << 16):
            fh.write(chunk)


def fetch(dest: Path | None = None, timeout: float = 10.0, log=print) -> dict[str, Path]:
    """Download every pinned CRD into dest (the cache by default), each verified before it lands.

    Files already there with the right sha256 are kept. A wrong checksum raises
    SchemaError and leaves nothing new behind; a network failure raises OSError."""
    version, pins = load_pins()
    dest = dest or cache_dir(version)
    dest.mkdir(parents=True, exist_ok=True)
    have = match_folder(dest, pins)
    for pin in pins:
        if pin.crd in have:
            continue
        target = dest / f"{pin.crd}.yaml"
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{pin.crd}.")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            log(f"gateway-api {version}: downloading {pin.crd} ...")
            _download(pin.url, tmp, timeout)
            got = _sha256(tmp)
            if got != pin.sha256:
                raise SchemaError(f"{pin.url}: sha256 {got} is not the pinned {pin.sha256}; not used")
            tmp.rename(target)
            have[pin.crd] = target
        finally:
            tmp.unlink(missing_ok=True)
    return have


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gourmetgram.gateway_schemas", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("fetch", "where"))
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per download (default 10)")
    args = parser.parse_args(argv)
    version, pins = load_pins()
    try:
        if args.command == "fetch":
            found = fetch(timeout=args.timeout)
            print(f"gateway-api {version}: {len(found)}/{len(pins)} CRDs verified in {cache_dir(version)}")
            return 0
        found = locate()
    except SchemaError as exc:
        print(f"gateway-api {version}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"gateway-api {version}: not downloaded ({exc}); the Gateway API checks will skip: {HOW_TO_GET}")
        return 2
    if not found:
        print(f"gateway-api {version}: no CRD files found; {HOW_TO_GET}")
        return 2
    for crd, path in sorted(found.items()):
        print(f"{crd}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
