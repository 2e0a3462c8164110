"""The lifecycle's order, declared once.

As MLflow Recipes declares its steps in one tuple and runs them in one loop,
STAGES is the lifecycle from training to production, and everything that
follows it reads this tuple instead of keeping its own list:

- Lifecycle.release() (steps.py) runs the RELEASE stages in this order, each
  step wrapped by Lifecycle.step (the one place that prints and times a step);
- bench/platform_bench.py groups the step timings by stage;
- tests/unit/lifecycle/test_lifecycle_order.py follows the cluster's relay of
  WorkflowTemplates (each submits the next) and compares it with `workflows`.

A new stage is one entry here, its Lifecycle method (when it is part of
release) and its workflow template (README, "Where a change goes").
"""

from __future__ import annotations

from dataclasses import dataclass

from gourmetgram import names


@dataclass(frozen=True)
class Stage:
    key: str  # Lifecycle runs a release stage with its method `_<key>`
    title: str  # what people, the README and the bench report call it
    steps: tuple[str, ...]  # the `==> step` names the Lifecycle prints and times inside it
    workflows: tuple[str, ...]  # the WorkflowTemplates that do it on the cluster, in the order they start
    environment: str | None = None  # the environment it deploys to (the workflows' environment parameter)


def deploy_step(env: str) -> str:
    return f"deploy {env}"


def alias_step(env: str) -> str:
    return f"alias {env}"


def promote_step(source: str, target: str) -> str:
    return f"promote {source}->{target}"


def promotion_steps(source: str, target: str) -> tuple[str, ...]:
    """The steps of a promotion: check and copy the tag, deploy it, move the alias."""
    return (promote_step(source, target), deploy_step(target), alias_step(target))


TRAIN = "train"
CANARY_ANALYSIS = "canary analysis"
PROMOTE_WORKFLOWS = ("promote-model", "deploy-container-image")  # promote-model submits the deploy

STAGES = (
    Stage("train", "train + gate + register", (TRAIN,), ("train-model",)),
    Stage(
        "build",
        "build",
        ("alias development", "build", alias_step(names.STAGING)),
        ("build-container-image",),
    ),
    Stage(
        "deploy_staging",
        "deploy staging",
        (deploy_step(names.STAGING),),
        ("deploy-container-image",),
        names.STAGING,
    ),
    Stage("test_staging", "test staging", ("test staging", "approve"), ("test-staging",)),
    Stage(
        "promote_canary",
        "promote to canary",
        promotion_steps(names.STAGING, names.CANARY),
        PROMOTE_WORKFLOWS,
        names.CANARY,
    ),
    Stage("canary_analysis", "canary analysis", (CANARY_ANALYSIS,), ("analyze-canary",)),
    Stage(
        "promote_production",
        "promote to production",
        promotion_steps(names.CANARY, names.PRODUCTION),
        PROMOTE_WORKFLOWS,
        names.PRODUCTION,
    ),
)


def stage(key: str) -> Stage:
    for s in STAGES:
        if s.key == key:
            return s
    raise KeyError(f"no lifecycle stage {key!r}: expected one of {', '.join(s.key for s in STAGES)}")


def between(first: str, last: str) -> tuple[Stage, ...]:
    """The stages from `first` to `last`, both included, in lifecycle order."""
    keys = [s.key for s in STAGES]
    return STAGES[keys.index(stage(first).key) : keys.index(stage(last).key) + 1]


# What Lifecycle.release() runs for a freshly registered version: build ... promotion to canary.
# Training comes before it (the runner's flow), the canary analysis after it.
RELEASE = between("build", "promote_canary")
