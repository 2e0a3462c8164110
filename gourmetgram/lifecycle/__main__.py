"""Lifecycle CLI, run by the Argo workflow steps (MLflow from MLFLOW_TRACKING_URI).

    python -m gourmetgram.lifecycle set-alias --alias staging --version 3
    python -m gourmetgram.lifecycle fetch-model --version 3 --out /workdir
    python -m gourmetgram.lifecycle test-staging --url http://staging:8082 --version 3 [--timeout 60] [--no-approve]
    python -m gourmetgram.lifecycle check-approved --version 3

Exit 0 on success, 1 when the check or operation failed (the reason on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys

from gourmetgram import names
from gourmetgram.errors import run_cli
from gourmetgram.lifecycle.registry import Registry
from gourmetgram.lifecycle.staging import DEFAULT_TIMEOUT, run_staging_test


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gourmetgram.lifecycle", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("set-alias", help="point a registry alias at a model version")
    p.add_argument("--alias", required=True, choices=names.ALIASES)
    p.add_argument("--version", required=True, type=names.version_arg)
    p = sub.add_parser("fetch-model", help="download a version's artifact to OUT/model and write OUT/versions.txt")
    p.add_argument("--version", required=True, type=names.version_arg)
    p.add_argument("--out", required=True)
    p = sub.add_parser("test-staging", help="the staging test; on pass approve the version")
    p.add_argument("--url", required=True)
    p.add_argument("--version", required=True, type=names.version_arg)
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    p.add_argument("--no-approve", action="store_true", help="only test; do not set staging-approved")
    p = sub.add_parser("check-approved", help="exit 0 only if the version passed the staging test")
    p.add_argument("--version", required=True, type=names.version_arg)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:
    if args.command == "test-staging":
        result = run_staging_test(args.url, args.version, timeout=args.timeout)
        if not result.passed:
            print(f"staging test FAILED for version {args.version}: {result.reason}", file=sys.stderr)
            return 1
        print(f"staging test passed: {result.reason}")
        if not args.no_approve:
            Registry().approve(args.version, url=args.url)
            print(f"alias {names.ALIAS_STAGING_APPROVED} -> version {args.version}")
        return 0
    registry = Registry()
    if args.command == "set-alias":
        registry.set_alias(args.alias, args.version)
        print(f"alias {args.alias} -> version {args.version}")
    elif args.command == "fetch-model":
        path = registry.fetch_model(args.version, args.out)
        print(f"version {args.version} -> {path} ({names.version_string(args.version)})")
    elif args.command == "check-approved":
        if not registry.is_approved(args.version):
            print(f"version {args.version} is not {names.ALIAS_STAGING_APPROVED}", file=sys.stderr)
            return 1
        print(f"version {args.version} is approved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
