"""The staging test, as the lab's test-staging workflow runs it.

Wait (up to a timeout) for the staging URL's /version to report 1.0.N, then
ask /test to classify the bundled image and accept only one of the 11 class
names. The same function runs in the Argo step (through the CLI) and in the
local platform.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from gourmetgram import names
from gourmetgram.lifecycle import rules

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class StagingResult:
    passed: bool
    reason: str  # why it failed, or what it saw when it passed
    answer: str = ""  # the class /test answered


def run_staging_test(
    url: str,
    model_version: int | str,
    timeout: float = DEFAULT_TIMEOUT,
    poll: float = 1.0,
    request_timeout: float = 10.0,
) -> StagingResult:
    """Check the app at `url` serves model_version and classifies its test image."""
    base = url.rstrip("/")
    expected = names.version_string(model_version)
    deadline = time.monotonic() + max(timeout, 0.0)
    last = "no answer yet"
    while True:
        try:
            resp = requests.get(f"{base}/version", timeout=request_timeout)
            if resp.status_code == 200:
                problem = rules.check_version_answer(resp.text, model_version)
                if problem is None:
                    break
                last = problem
            else:
                last = f"/version answered HTTP {resp.status_code}"
        except requests.RequestException as exc:
            last = f"/version unreachable ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            within = f" within {timeout:g}s" if timeout > 0 else ""
            return StagingResult(False, f"{base} did not report {expected}{within}: {last}")
        time.sleep(poll)
    try:
        resp = requests.get(f"{base}/test", timeout=request_timeout)
    except requests.RequestException as exc:
        return StagingResult(False, f"{base}/test unreachable ({type(exc).__name__})")
    if resp.status_code != 200:
        return StagingResult(False, f"{base}/test answered HTTP {resp.status_code}: {resp.text[:200]!r}")
    problem = rules.check_class_answer(resp.text)
    if problem is not None:
        return StagingResult(False, problem)
    answer = resp.text.strip()
    return StagingResult(True, f"{base} serves {expected}; /test answered {answer!r}", answer)
