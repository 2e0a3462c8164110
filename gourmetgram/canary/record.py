"""Every verdict stored on the model version in MLflow: tags (what and why, in one line) and a
JSON artifact (every measurement, every value) on the version's run; `status` reads the tags."""

from __future__ import annotations

from gourmetgram import names

VERDICT_TAG = "canary_verdict"
REASON_TAG = "canary_reason"
AT_TAG = "canary_verdict_at"
ARTIFACT_TAG = "canary_analysis"
# Words people read in status; verdict -> outcome.
OUTCOME = {"promote": "promoted", "abort": "aborted", "pause": "paused (inconclusive)"}


def artifact_file(report: dict) -> str:
    stamp = report["verdict_at"].replace(":", "").replace("-", "")
    return f"canary/analysis-{names.version_string(report['version'])}-{stamp}.json"


def store(registry, report: dict) -> str:
    """Tags + JSON artifact on the version; returns the artifact's URI."""
    uri = registry.log_json(report["version"], artifact_file(report), report)
    registry.set_tags(
        report["version"],
        {
            VERDICT_TAG: report["verdict"],
            REASON_TAG: report["reason"][:480],
            AT_TAG: report["verdict_at"],
            ARTIFACT_TAG: uri,
        },
    )
    return uri


def summary(tags: dict[str, str]) -> str:
    """One line for status: 'aborted by canary analysis at T: why', or '' if never analysed."""
    verdict = tags.get(VERDICT_TAG)
    if not verdict:
        return ""
    outcome = OUTCOME.get(verdict, verdict)
    return f"canary analysis: {outcome} at {tags.get(AT_TAG, '?')}: {tags.get(REASON_TAG, '')}"


def aborted(tags: dict[str, str]) -> bool:
    return tags.get(VERDICT_TAG) == "abort"
