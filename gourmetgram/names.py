"""The words every part of the lifecycle must agree on.

Model name, experiment, aliases, class names, environments, the version and
image-tag formats. Workflows, playbooks, charts and the local platform are
checked against this module by tests/iac (one source of truth); adding an
environment starts here (README, "Where a change goes").
Ports and weights are NOT here: they live in the Helm values (see values.py).

Parsing happens at the edges: tasks and CLIs turn user input into a checked
environment (check_env) and an int version (version_number, version_arg); the
lifecycle core takes those as they are.
"""

from __future__ import annotations

import re

MODEL_NAME = "GourmetGramFood11Model"
EXPERIMENT = "food11-classifier"

# Deployment environments, in promotion order. A new environment is added here (and in the
# files tests/iac/test_iac_environments.py names when it fails).
STAGING = "staging"
CANARY = "canary"
PRODUCTION = "production"
ENVIRONMENTS = (STAGING, CANARY, PRODUCTION)
PLATFORM = "platform"

# Where promotions may go: source environment -> allowed targets.
PROMOTIONS = {STAGING: (CANARY,), CANARY: (PRODUCTION,)}

# Registry aliases. Each environment carries the alias of its own name (the version it serves);
# a version that passed the staging test also gets staging-approved.
ALIAS_DEVELOPMENT = "development"
ALIAS_STAGING = STAGING
ALIAS_STAGING_APPROVED = "staging-approved"
ALIAS_CANARY = CANARY
ALIAS_PRODUCTION = PRODUCTION
ENV_ALIASES = {env: env for env in ENVIRONMENTS}
# In lifecycle order: development, staging, staging-approved, then the later environments.
ALIASES = (
    ALIAS_DEVELOPMENT,
    *(alias for env in ENVIRONMENTS for alias in (env, *((ALIAS_STAGING_APPROVED,) if env == STAGING else ()))),
)

# The Food-11 classes, in the order of the model's output.
CLASSES = (
    "Bread",
    "Dairy product",
    "Dessert",
    "Egg",
    "Fried food",
    "Meat",
    "Noodles/Pasta",
    "Rice",
    "Seafood",
    "Soup",
    "Vegetable/Fruit",
)

# Cluster naming (namespaces, Argo CD apps, image repository).
APP_IMAGE = "gourmetgram-app"
TRAINING_IMAGE = "gourmetgram-train"
REGISTRY = "registry.kube-system.svc.cluster.local:5000"
APP_SERVICE = "gourmetgram-app"
# The repository revision is a setting (GG_REPO_REVISION, default main), not a name here.

VERSION_MAJOR_MINOR = "1.0"
# Both patterns are built from the words above, so a new environment or version prefix needs no regex edit.
_VERSION_RE = re.compile(rf"^{re.escape(VERSION_MAJOR_MINOR)}\.(\d+)$")
_TAG_RE = re.compile(rf"^({'|'.join(map(re.escape, ENVIRONMENTS))})-{re.escape(VERSION_MAJOR_MINOR)}\.(\d+)$")


def namespace(env: str) -> str:
    """Kubernetes namespace (and Argo CD application name) of an environment."""
    return f"gourmetgram-{check_env(env, allow_platform=True)}"


def app_name(env: str) -> str:
    """Argo CD application name: the same as the namespace, as in the lab."""
    return namespace(env)


def version_string(model_version: int | str) -> str:
    """Registry version N -> the app's version string 1.0.N."""
    n = _as_version_number(model_version)
    return f"{VERSION_MAJOR_MINOR}.{n}"


def version_number(model_version: int | str) -> int:
    """The registry version N of N, "N" (a non-negative integer); ValueError naming the input otherwise."""
    return _as_version_number(model_version)


def check_env(env: str, allow_platform: bool = False) -> str:
    """env itself if it is one of ENVIRONMENTS (or the platform, when allowed); ValueError naming the choices."""
    valid = ENVIRONMENTS + ((PLATFORM,) if allow_platform else ())
    if env not in valid:
        raise ValueError(f"unknown environment {env!r}: expected one of {', '.join(valid)}")
    return env


def env_alias(env: str) -> str:
    """The registry alias that follows what env serves."""
    return ENV_ALIASES[check_env(env)]


def version_arg(text: str) -> int:
    """argparse type of a registry version N: the message of version_number on bad input."""
    import argparse

    try:
        return version_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_version_string(text: str) -> int:
    """'1.0.N' -> N; ValueError with the expected format otherwise."""
    m = _VERSION_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a GourmetGram version {text!r}: expected 1.0.<N>")
    return int(m.group(1))


def image_tag(env: str, model_version: int | str) -> str:
    """Image (cluster) or bundle (local) tag: <env>-1.0.N."""
    return f"{check_env(env)}-{version_string(model_version)}"


def parse_image_tag(tag: str) -> tuple[str, int]:
    """'<env>-1.0.N' -> (env, N); ValueError otherwise."""
    m = _TAG_RE.match(tag.strip())
    if not m:
        raise ValueError(f"not a GourmetGram image tag {tag!r}: expected <env>-1.0.<N> with env in {ENVIRONMENTS}")
    return m.group(1), int(m.group(2))


def image_ref(env: str, model_version: int | str, registry: str = REGISTRY) -> str:
    return f"{registry}/{APP_IMAGE}:{image_tag(env, model_version)}"


def check_promotion(source: str, target: str) -> None:
    """Raise ValueError unless source -> target is an allowed promotion."""
    check_env(source)
    check_env(target)
    allowed = PROMOTIONS.get(source, ())
    if target not in allowed:
        raise ValueError(
            f"cannot promote {source} -> {target}: allowed promotions are "
            + ", ".join(f"{s} -> {t}" for s, ts in PROMOTIONS.items() for t in ts)
        )


def _as_version_number(model_version: int | str) -> int:
    try:
        n = int(str(model_version).strip())
    except ValueError:
        raise ValueError(f"model version must be a non-negative integer, got {model_version!r}") from None
    # 0 is the initial image (1.0.0) built before any model is registered.
    if n < 0:
        raise ValueError(f"model version must be a non-negative integer, got {model_version!r}")
    return n


# What a model was trained on: model.json's "data_source" (train/flow.py writes it, the app shows it).
DATA_FOOD11 = "food11"
DATA_SYNTHETIC = "synthetic"
DATA_PLACEHOLDER = "placeholder"  # build-init's 1.0.0: an untrained network
DATA_SOURCES = (DATA_FOOD11, DATA_SYNTHETIC, DATA_PLACEHOLDER)
# The app page's notice for a model that is not a real food classifier (none for Food-11).
DATA_SOURCE_NOTICES = {
    DATA_SYNTHETIC: "demo model trained on synthetic data: its answers are not food classes you can trust",
    DATA_PLACEHOLDER: "placeholder model (untrained): it classifies nothing yet; the first trained model replaces it",
}


def data_source_notice(data_source: str | None) -> str | None:
    """The page's notice for a model.json data_source; an unknown source is named as such."""
    if data_source in (None, "", DATA_FOOD11):
        return None
    return DATA_SOURCE_NOTICES.get(str(data_source), f"model trained on {data_source!r} data, not Food-11")


# Why a training ran, on its MLflow run: the alert that started it (gourmetgram/local/retrain_hook.py,
# the cluster's Argo Events sensor -> train-model's `reason` parameter) or "manual". train/flow.py reads the
# environment variable and sets both tags.
TRAIN_REASON_ENV = "GG_TRAIN_REASON"
TRAIN_REASON_MANUAL = "manual"
TAG_TRIGGER = "trigger"
TAG_TRIGGER_REASON = "trigger_reason"
