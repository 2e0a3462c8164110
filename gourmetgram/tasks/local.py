"""invoke local.*: the whole model lifecycle on this machine; and `invoke demo`."""

from __future__ import annotations

import time

from invoke import Collection, Exit

from gourmetgram import names
from gourmetgram.errors import UsageError, as_usage_error
from gourmetgram.tasks.boundary import task
from gourmetgram.tasks.requires import needs_full_install


def _platform():
    from gourmetgram.local.operations import state_from_env

    return state_from_env()


def _ports(offset: int):
    from gourmetgram.local.state import Ports

    return Ports.defaults(offset) if offset else None


@task(
    prefix="local.",
    help={
        "port_offset": "add this to every default port (8080 -> 8080+N ...), e.g. to run beside another platform",
        "postgres": "MLflow backend in a private PostgreSQL 15 cluster under the state dir (default sqlite)",
        "s3": "MLflow artifacts in `rclone serve s3` (the MinIO stand-in, bucket mlflow-artifacts)",
    },
)
def up(c, port_offset=0, postgres=False, s3=False):
    """Start the local platform: MLflow, Traefik and every deployed environment (state in GG_STATE_DIR)."""
    from gourmetgram.local import operations

    p = _platform()
    start = time.monotonic()
    operations.up(
        p,
        ports=_ports(port_offset),
        backend="postgres" if postgres else None,
        artifacts="s3" if s3 else None,
    )
    print(f"local platform up in {time.monotonic() - start:.1f}s (state: {p.state.root})")
    _print_status(p)


@task(prefix="local.")
def down(c):
    """Stop every process of the local platform; bundles, registry and deployments stay for the next up."""
    from gourmetgram.local import operations

    p = _platform()
    operations.down(p)
    print(f"local platform stopped (state kept in {p.state.root})")


@task(prefix="local.")
def status(c):
    """Show each environment's URL, deployed version and health; the registry's versions and aliases."""
    _print_status(_platform())


def _print_status(p) -> None:
    s = p.status()
    print(f"state dir: {s['state_dir']}   platform: {'UP' if s['up'] else 'DOWN'}")
    print(f"{'environment':12} {'url':26} {'tag':18} {'serves':8} {'health':8} process")
    for env, row in s["environments"].items():
        print(
            f"{env:12} {row['url']:26} {row['tag'] or '-':18} {row['version'] or '-':8} "
            f"{row['health']:8} {row.get('process', '-')}"
        )
    g = s["gateway"]
    split = " / ".join(f"{e} {w}%" for e, w in g["weights"].items())
    print(f"{'gateway':12} {g['url']:26} {'-':18} {g.get('version') or '-':8} {g['health']:8} split {split}")
    reg = s["registry"]
    print(f"MLflow UI:   {reg['url']}  ({s['mlflow']})    Traefik dashboard: {s['traefik_url']}  ({s['traefik']})")
    print(f"Prometheus:  {s['prometheus_url']}  ({s['prometheus']})")
    if "alertmanager_url" in s:  # retraining alerts -> webhook (gourmetgram/local/alerting.py)
        print(f"Alertmanager: {s['alertmanager_url']}  ({s['alertmanager']})    retraining webhook: "
              f"{s['retrain_hook_url']}  ({s['retrain_hook']})")  # fmt: skip
    verdicts = reg.get("canary_verdicts", {})  # why the canary analysis promoted or stopped a version
    if reg["error"]:
        print(f"registry: {reg['error']}")
    by_version: dict[int, list[str]] = {}
    for alias, v in reg["aliases"].items():
        by_version.setdefault(v, []).append(alias)
    if reg["versions"]:
        print(f"registry {names.MODEL_NAME}:")
        for v, approved in sorted(reg["versions"].items()):
            aliases = ", ".join(a for a in names.ALIASES if a in by_version.get(v, []))
            print(f"  version {v:<4} {'approved' if approved else '        '}  {aliases}")
            if verdicts.get(v):
                print(f"               {verdicts[v]}")
    print("bundles: " + (", ".join(s["bundles"]) or "none"))
    _print_feedback(s.get("feedback", {}))


def _print_feedback(fb: dict) -> None:
    """Online accuracy from the users' labels (POST /feedback), per environment and model version."""
    if fb.get("error"):
        print(f"feedback: {fb['error']}")
    if not fb.get("rows"):
        print("feedback: no labels yet")
        return
    print("feedback (online accuracy from user labels):")
    for r in fb["rows"]:
        print(
            f"  {r['environment']:12} {r['model_version']:8} {r['right']}/{r['labels']} right "
            f"= {r['accuracy']:.1%}  ({r['predictions']} predictions recorded)"
        )


@task(
    prefix="local.",
    help={"name": "one log (e.g. traefik, mlflow, train, staging); default: all current ones", "lines": "tail size"},
)
def logs(c, name="", lines=20):
    """Show the tail of the platform's logs (apps, Traefik, MLflow, training) and where they are."""
    p = _platform()
    deployments = p.state.deployments().current
    wanted = {
        "supervisord": "supervisord",
        "traefik": "traefik",
        "mlflow": "mlflow",
        "postgres": "postgres",
        "s3": "s3",
        "train": "train",
    }
    wanted.update({env: cur.program for env, cur in deployments.items()})
    if name:
        if name not in wanted:
            raise UsageError(f"unknown log {name!r}: choose one of {', '.join(wanted)}")
        wanted = {name: wanted[name]}
    for label, stem in wanted.items():
        path = p.state.logs / f"{stem}.log"
        if not path.is_file():
            continue
        print(f"===== {label}: {path}")
        print("\n".join(path.read_text(errors="replace").splitlines()[-int(lines) :]))


@task(
    prefix="local.",
    help={
        "bad": "train the lab's bad model (state dict only): registered, fails the staging test",
        "emulate": "as the lab's flow.py: start from the last trained checkpoint, no training epochs",
        "auto_promote": "after canary, the canary analysis decides: promote to production, abort or pause",
        "load": "with --auto-promote: drive traffic with the built-in load generator (default on)",
    },
)
def train(c, bad=False, emulate=False, auto_promote=False, load=True):
    """Train (ci preset) and run the lifecycle: development -> staging -> test -> staging-approved -> canary."""
    from gourmetgram.local import operations

    p = _platform()
    start = time.monotonic()
    lc = operations.train(p, bad=bad, emulate=emulate, auto_promote=auto_promote, load=load)
    _print_timings(lc.timings, time.monotonic() - start)
    print(f"version {lc.version} serves in staging ({p.url(names.STAGING)}) and canary ({p.url(names.CANARY)})")
    if lc.canary_report:
        _print_verdict(lc.canary_report)


@task(
    prefix="local.",
    help={
        "version": "model version N that canary serves",
        "load": "drive traffic with the built-in load generator on 127.0.0.1 (default on; --no-load for real users)",
    },
)
def canary(c, version, load=True):
    """Canary analysis: move the gateway 10->25->50->100, check Prometheus each interval; promote, abort or pause."""
    from gourmetgram.local import operations

    n = _version(version)
    p = _platform()
    report = operations.canary(p, n, load=load)
    _print_verdict(report)
    if report["verdict"] == "abort":
        raise Exit("canary analysis ABORTED the candidate (see above)", code=1)
    if report["verdict"] == "pause":
        raise Exit("canary analysis inconclusive: paused for a person (see above)", code=3)


def _print_verdict(report: dict) -> None:
    from gourmetgram.canary import record

    outcome = record.OUTCOME.get(report["verdict"], report["verdict"])
    print(f"canary analysis of {report['model_version']}: {outcome.upper()} - {report['reason']}")


@task(
    prefix="local.",
    name="promote",
    help={"from_": "source environment (staging or canary)", "to": "target environment", "version": "model version N"},
)
def promote_(c, from_, to, version):
    """Promote an approved version from one environment to the next (copy tag, deploy, alias)."""
    from gourmetgram.local import operations

    source, target, n = _env(from_), _env(to), _version(version)
    as_usage_error(names.check_promotion, source, target)  # a pair no promotion goes, before any work
    p = _platform()
    operations.promote(p, source, target, n)
    print(f"{target} ({p.url(target)}) serves {names.version_string(n)}")


@task(prefix="local.", help={"env": "environment to roll back (staging, canary or production)"})
def rollback(c, env):
    """Put back the previous known-good version of an environment."""
    from gourmetgram.local import operations

    env = _env(env)
    p = _platform()
    n = operations.rollback(p, env)
    print(f"{env} ({p.url(env)}) serves {names.version_string(n)} again")


def _version(text) -> int:
    """A version N typed by the user; a usage error (exit 2) otherwise."""
    return as_usage_error(names.version_number, text)


def _env(text) -> str:
    """An environment typed by the user: one of names.ENVIRONMENTS, else a usage error (exit 2)."""
    return as_usage_error(names.check_env, str(text))


def _print_timings(timings, total: float) -> None:
    print("step timings: " + ", ".join(f"{name} {sec:.1f}s" for name, sec in timings) + f"; total {total:.1f}s")


@task(help={"port_offset": "add this to every default port"})
def demo(c, port_offset=0):
    """The main job: platform up, synthetic data, lifecycle to canary, promotion to production, summary."""
    from gourmetgram.local import operations

    p = _platform()
    start = time.monotonic()
    print("== local platform up")
    operations.up(p, ports=_ports(port_offset))
    print("== train and release to canary")
    lc = operations.train(p)
    if p.target.deployed_version(names.PRODUCTION) is None:
        # The very first version has no production to be compared with: promoted by hand.
        print("== promote canary -> production (first version: nothing to compare with)")
        promo = operations.promote(p, names.CANARY, names.PRODUCTION, lc.version)
        print("== train a second version; the canary analysis decides (built-in load generator)")
        lc2 = operations.train(p, emulate=True, auto_promote=True)
        _print_verdict(lc2.canary_report)
        print("second version: " + ", ".join(f"{name} {sec:.1f}s" for name, sec in lc2.timings))
        timings = lc.timings + promo.timings  # the first version's lifecycle (what bench/ parses)
        lc = lc2
    else:
        print("== canary analysis -> production (built-in load generator)")
        report = operations.canary(p, lc.version)
        _print_verdict(report)
        timings = lc.timings
    total = time.monotonic() - start
    _print_timings(timings, total)
    print()
    print(f"== demo done in {total:.1f}s: version {lc.version} ({names.version_string(lc.version)}) in production")
    _print_status(p)
    print(f"try: curl {p.gateway_url}/version   |   open {p.url(names.PRODUCTION)}/ and upload a food photo")


def register(ns: Collection) -> None:
    """Add the `local` collection and the top-level `demo` task."""
    local = Collection("local")
    local.__doc__ = "The local platform: MLflow, Traefik and three app environments on this machine."
    for t in (up, down, status, logs, train, canary, promote_, rollback):
        local.add_task(needs_full_install(t, f"local.{t.name}"))
    ns.add_collection(local)
    ns.add_task(needs_full_install(demo, "demo"))
