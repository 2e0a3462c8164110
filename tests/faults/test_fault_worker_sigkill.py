"""An app worker killed with SIGKILL under load comes back by itself (gunicorn's master replaces it)."""

from __future__ import annotations

import os
import signal

RECOVERY_BOUND_S = 30.0
CLIENTS = 4


def test_sigkill_of_a_worker_under_load_recovers_by_itself(app_factory, tiny_model, load_loop, wait, fault_report):
    app = app_factory(tiny_model)
    before = app.workers()
    assert len(before) == 2
    victim = min(before)

    load = load_loop(f"{app.url}/predict", clients=CLIENTS, max_requests=4000, max_seconds=90)
    wait(lambda: load.count() >= 50, 30, what="50 requests answered before the kill")
    killed_at = load.now()
    os.kill(victim, signal.SIGKILL)

    # The master notices the dead worker and forks a new one that loads the model again.
    replacement = wait(lambda: (app.workers() - before) or None, RECOVERY_BOUND_S, what="a replacement worker")
    worker_back_at = load.now()
    # Keep the load on until requests have succeeded for a while after the replacement appeared.
    wait(lambda: load.count() >= 50 + 200, 60, what="200 more requests after the kill")
    recovery = load.recovery(killed_at)
    failures = recovery.failures
    fault_report["app worker SIGKILL under load"] = {
        **recovery.report(),
        "replacement_worker_after_s": round(worker_back_at - killed_at, 2),
    }
    assert victim not in app.workers()
    assert len(app.workers()) == 2, "the master must run its full worker count again"
    assert replacement
    # Only requests in flight on the killed worker may fail: at most one per client connection.
    assert len(failures) <= CLIENTS, f"{len(failures)} requests failed: {failures[:5]}"
    # Requests succeed again: the tail of the run after the kill is all successes.
    assert len(recovery.tail) >= 100 and all(o.ok for o in recovery.tail)
    assert app.proc.poll() is None, "the master itself must still run"
