"""The lifecycle's serving side on the cluster: Argo CD syncs of image tags in the cluster registry.

Every method reaches the cluster the way the other cluster tasks do: ssh to
node1 and kubectl there (gourmetgram.cluster.argo builds each argv), so a
Runner in dry-run mode prints the exact commands instead of running them.
`invoke rollback` runs the Lifecycle over it. Building and promoting are the
workflows' own steps (train-model's relay, promote-model), so there is no
build or copy_tag here (lifecycle.target.Serving, not the whole Target).

    deploy          submit deploy-container-image (argocd app set image.tag + sync + wait) and wait
    url             http://<floating ip>:<env port from k8s/<env>/values.yaml>
    deployed_version, history   the Argo CD Application (its image.tag parameter and status.history)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from gourmetgram import names, values
from gourmetgram.cluster import argo
from gourmetgram.cluster.runner import Runner, Step, format_elapsed
from gourmetgram.cluster.settings import Settings
from gourmetgram.errors import BadAnswer
from gourmetgram.lifecycle.rules import Deployment
from gourmetgram.lifecycle.target import DeployError

IMAGE_TAG_PARAMETER = "image.tag"
WORKFLOW_POLL_SECONDS = 10.0
# A wait covers the workflow's own deadline (its template's activeDeadlineSeconds, after which
# Argo fails it) plus this margin, so invoke never gives up on a workflow that still runs.
WORKFLOW_WAIT_MARGIN_SECONDS = 300.0


class ClusterTarget:
    """Serving over the real cluster tools; `runner` decides whether commands run or are only printed."""

    name = "cluster"

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        floating_ip: str,
        poll_seconds: float = WORKFLOW_POLL_SECONDS,
        timeout: float | None = None,  # None: the template's deadline + WORKFLOW_WAIT_MARGIN_SECONDS
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.runner = runner
        self.floating_ip = floating_ip
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.sleep = sleep
        self._last_created = ""

    # -- lifecycle.target.Serving ---------------------------------------------------------------
    def deploy(self, env: str, model_version: int) -> None:
        """Argo CD serves <env>-1.0.N; DeployError if the deploy workflow does not succeed.

        Kubernetes rolls the Deployment (readiness probe on /readyz), so the old pod serves until the new one
        is ready; a version that never gets ready leaves the old pod serving."""
        steps = argo.deploy_image_steps(self.settings, self.floating_ip, env, model_version)
        phase = self._submit_and_wait(steps, "deploy-container-image")
        if phase not in (None, "Succeeded"):
            raise DeployError(
                f"deploy-container-image for {names.image_tag(env, model_version)} ended {phase}: {self._logs_hint()}"
            )

    def url(self, env: str) -> str:
        return f"http://{self.floating_ip}:{values.env_port(env)}"

    def deployed_version(self, env: str) -> int | None:
        app = self._application(env)
        if app is None:
            return None
        tag = deployed_tag(app)
        return None if tag is None else version_of_tag(env, tag)

    def history(self, env: str) -> list[Deployment]:
        app = self._application(env)
        return [] if app is None else deploy_history(env, app)

    # -- helpers ------------------------------------------------------------------------------
    def _application(self, env: str) -> dict | None:
        """The Application object (None in a dry-run, where nothing is read)."""
        out = self.runner.run(argo.argocd_app_step(self.settings, self.floating_ip, env))
        if out is None:
            return None
        try:
            app = json.loads(out)
        except json.JSONDecodeError:
            raise BadAnswer(f"kubectl did not answer JSON for {names.app_name(env)}: {out[:200]!r}") from None
        if not isinstance(app, dict) or app.get("kind") != "Application":
            raise BadAnswer(f"{names.app_name(env)} is not an Argo CD Application: {out[:200]!r}")
        return app

    def _submit_and_wait(self, steps: list[Step], template: str) -> str | None:
        """Create the Workflow, then poll its phase until it is done; the final phase (None in a dry-run)."""
        created = None
        for step in steps:
            created = self.runner.run(step)
        if created is None:  # dry-run: show the poll command once
            self.runner.say(f"then, every {self.poll_seconds:g} s until {'/'.join(argo.WORKFLOW_DONE_PHASES)}:")
            placeholder = argo.created_placeholder(template)
            self.runner.run(argo.workflow_phase_step(self.settings, self.floating_ip, placeholder))
            return None
        created = created.strip()
        self._last_created = created
        timeout = self.timeout if self.timeout is not None else self.wait_limit(template)
        waited = 0.0
        while True:
            phase = (self.runner.run(argo.workflow_phase_step(self.settings, self.floating_ip, created)) or "").strip()
            if phase in argo.WORKFLOW_DONE_PHASES:
                self.runner.say(f"{created}: {phase}")
                return phase
            if waited >= timeout:
                return f"still {phase or 'Pending'} after {waited:.0f} s"
            self.runner.say(
                f"{created}: {phase or 'Pending'}, {format_elapsed(waited)} of up to {format_elapsed(timeout)}"
            )
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds

    @staticmethod
    def wait_limit(template: str) -> float:
        """Seconds to wait for a Workflow of `template`: its deadline plus the margin."""
        return argo.workflow_deadline(template) + WORKFLOW_WAIT_MARGIN_SECONDS

    def _logs_hint(self) -> str:
        name = self._last_created.split("/")[-1]
        return (
            f"see the Argo Workflows UI (invoke tunnel --service workflows) or, on node1, "
            f"kubectl -n {argo.ARGO_NAMESPACE} logs -l workflows.argoproj.io/workflow={name}"
        )


# ---- reading the Argo CD Application ------------------------------------------------------------


def _helm_parameters(source: dict | None) -> dict[str, str]:
    helm = (source or {}).get("helm") or {}
    return {p["name"]: str(p.get("value", "")) for p in helm.get("parameters") or [] if "name" in p}


def _source(holder: dict) -> dict | None:
    """A spec or history entry's source (single-source apps; else the first source with Helm settings)."""
    if holder.get("source"):
        return holder["source"]
    return next((s for s in holder.get("sources") or [] if s.get("helm")), None)


def deployed_tag(app: dict) -> str | None:
    """The image tag env is set to: the image.tag Helm parameter (what the deploy workflow sets); before the
    first deploy, the app image in the live resources (the chart's default, e.g. staging-1.0.0)."""
    tag = _helm_parameters(_source(app.get("spec") or {})).get(IMAGE_TAG_PARAMETER)
    if tag:
        return tag
    prefix = f"/{names.APP_IMAGE}:"
    for image in (app.get("status") or {}).get("summary", {}).get("images") or []:
        if prefix in image:
            return image.rsplit(":", 1)[1]
    return None


def version_of_tag(env: str, tag: str) -> int:
    tag_env, n = names.parse_image_tag(tag)
    if tag_env != env:
        raise BadAnswer(f"{names.app_name(env)} runs image tag {tag}, which belongs to {tag_env}")
    return n


def deploy_history(env: str, app: dict) -> list[Deployment]:
    """Env's syncs from status.history, oldest first, each with the image.tag it deployed.

    Entries without an image.tag parameter deployed the chart's default image (1.0.0, built before any
    model was registered) and version-0 tags serve no registered model: neither can be a rollback target,
    so they are left out. Argo CD keeps the last 10 syncs (spec.revisionHistoryLimit)."""
    out = []
    entries = sorted((app.get("status") or {}).get("history") or [], key=lambda h: int(h.get("id", 0)))
    for entry in entries:
        tag = _helm_parameters(_source(entry)).get(IMAGE_TAG_PARAMETER)
        if not tag:
            continue
        n = version_of_tag(env, tag)
        if n > 0:
            out.append(Deployment(version=n, tag=tag, at=str(entry.get("deployedAt", ""))))
    return out
