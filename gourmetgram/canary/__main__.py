"""Canary analysis CLI, run by the analyze-canary workflow in the training image (cluster).

    python -m gourmetgram.canary analyze --version N [--prometheus URL] [--argocd-server URL]
        [--token-file F] [--out DIR]
    python -m gourmetgram.canary set-weights (--canary W | --default) [--argocd-server URL] [--token-file F]

`analyze` runs the same Rollout as `invoke local.canary`, moving the HTTPRoute weights through
the Argo CD application gourmetgram-platform; promotion and the canary's restore are the
workflow's next steps, so it writes OUT/verdict (promote, abort, pause) and OUT/restore-version
(abort: the canary's last known-good version) for them. Exit 0 for every verdict (the
workflow branches on it), 1 when the analysis could not run, 2 on bad usage.
Argo CD with the workflows' deployer account's API token (Secret argocd-deployer-token, mounted
at --token-file), never the admin password. MLflow from MLFLOW_TRACKING_URI (and
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.errors import GourmetGramError, run_cli

DEFAULT_PROMETHEUS = f"http://prometheus.{names.namespace(names.PLATFORM)}.svc.cluster.local:{values.prometheus_port()}"
DEFAULT_ARGOCD = "https://argocd-server.argocd.svc.cluster.local"
DEFAULT_TOKEN_FILE = "/etc/argocd-deployer/token"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gourmetgram.canary", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="canary analysis of version N (canary must serve it)")
    a.add_argument("--version", required=True, type=names.version_arg)
    a.add_argument("--prometheus", default=DEFAULT_PROMETHEUS)
    a.add_argument("--out", default="/tmp/canary", help="where verdict and restore-version are written")
    w = sub.add_parser("set-weights", help="set the gateway split (canary weight, or the values' default)")
    g = w.add_mutually_exclusive_group(required=True)
    g.add_argument("--canary", type=int, help="canary weight 0..100 (production gets the rest)")
    g.add_argument("--default", action="store_true", help="the split of k8s/platform/values.yaml")
    for p in (a, w):
        p.add_argument("--argocd-server", default=DEFAULT_ARGOCD)
        p.add_argument("--token-file", default=DEFAULT_TOKEN_FILE, help="the Argo CD deployer account's API token")
    return parser


def _gateway(args):
    from gourmetgram.canary.gateways import ArgoCDGateway

    try:
        token = Path(args.token_file).read_text()
    except OSError as exc:
        raise GourmetGramError(f"cannot read the Argo CD token ({exc})") from None
    return ArgoCDGateway(args.argocd_server, token)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:
    from gourmetgram.canary import plan as canary_plan
    from gourmetgram.canary.gateways import step_weights
    from gourmetgram.canary.rollout import Rollout
    from gourmetgram.canary.signals import Prometheus
    from gourmetgram.lifecycle.registry import Registry

    if args.command == "set-weights":
        weights = values.route_weights() if args.default else step_weights(args.canary)
        _gateway(args).set_weights(weights)
        print(f"gateway weights {weights}")
        return 0
    registry = Registry()
    aliases = registry.aliases()
    production = aliases.get(names.ALIAS_PRODUCTION)
    if production is None:
        raise GourmetGramError("no version has the alias production: nothing to compare the canary with")
    if aliases.get(names.ALIAS_CANARY) != args.version:
        raise GourmetGramError(f"alias canary is not version {args.version}: canary does not serve it")
    rollout = Rollout(
        plan=canary_plan.from_values(),
        prometheus=Prometheus(args.prometheus),
        gateway=_gateway(args),
        registry=registry,
        version=args.version,
        production_version=production,
        promote=lambda: None,  # the workflow's promote-model step
        restore_canary=lambda v: None,  # the workflow's deploy + alias steps
        restore_split_after_promote=False,
    )
    report = rollout.run()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdict").write_text(report["verdict"])
    (out / "restore-version").write_text(str(report.get("restored_canary_version") or ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
