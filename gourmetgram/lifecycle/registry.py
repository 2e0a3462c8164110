"""The model registry operations the lifecycle needs, over MLflow's client.

One small class so every step talks to MLflow the same way, and so an
unreachable or wrong MLflow turns into one clear RegistryError that names the
server, instead of a long retry followed by a traceback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from gourmetgram import names
from gourmetgram.errors import GourmetGramError
from gourmetgram.lifecycle import rules

# Fail within seconds when MLflow is down (the client's default retries for minutes).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


class RegistryError(GourmetGramError):
    """MLflow could not do what a step needs; the message names the server and the operation."""


class Registry:
    """Aliases, approval tags and artifact downloads of names.MODEL_NAME on one MLflow server."""

    def __init__(self, tracking_uri: str | None = None, model_name: str = names.MODEL_NAME):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not self.tracking_uri:
            raise RegistryError("no MLflow server given: set MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:8000)")
        self.model_name = model_name
        self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MLflow raises many types (MlflowException, requests errors)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RegistryError(f"MLflow at {self.tracking_uri}: {what} failed: {reason[:300]}") from exc

    # -- versions -------------------------------------------------------------------------
    def version(self, model_version: int | str):
        n = _number(model_version)
        return self._call(
            f"reading version {n} of {self.model_name}", self._client.get_model_version, self.model_name, str(n)
        )

    def versions(self) -> list[int]:
        found = self._call(
            f"listing versions of {self.model_name}",
            self._client.search_model_versions,
            f"name='{self.model_name}'",
        )
        return sorted(int(v.version) for v in found)

    def tags(self, model_version: int | str) -> dict[str, str]:
        return dict(self.version(model_version).tags or {})

    # -- aliases --------------------------------------------------------------------------
    def aliases(self) -> dict[str, int]:
        """{alias: version} of the registered model ({} if it is not registered yet)."""
        try:
            model = self._client.get_registered_model(self.model_name)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
                return {}
            return self._call(f"reading aliases of {self.model_name}", _reraise, exc)
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def set_alias(self, alias: str, model_version: int | str) -> None:
        if alias not in names.ALIASES:
            raise RegistryError(f"unknown alias {alias!r}: expected one of {', '.join(names.ALIASES)}")
        n = _number(model_version)
        self.version(n)  # a clear error for a version that does not exist
        self._call(
            f"setting alias {alias} -> version {n}",
            self._client.set_registered_model_alias,
            self.model_name,
            alias,
            str(n),
        )

    # -- approval -------------------------------------------------------------------------
    def is_approved(self, model_version: int | str) -> bool:
        n = _number(model_version)
        aliases = [a for a, v in self.aliases().items() if v == n]
        return rules.is_approved(self.tags(n), aliases)

    def approve(self, model_version: int | str, url: str = "") -> None:
        """Record that the version passed the staging test: tags first, then the alias."""
        n = _number(model_version)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, value in ((rules.APPROVAL_TAG, rules.APPROVAL_TAG_VALUE), (rules.APPROVAL_TIME_TAG, now)) + (
            ((rules.APPROVAL_URL_TAG, url),) if url else ()
        ):
            self._call(
                f"tagging version {n} {key}={value}",
                self._client.set_model_version_tag,
                self.model_name,
                str(n),
                key,
                value,
            )
        self.set_alias(names.ALIAS_STAGING_APPROVED, n)

    def set_tags(self, model_version: int | str, tags: dict[str, str]) -> None:
        n = _number(model_version)
        for key, value in tags.items():
            self._call(
                f"tagging version {n} {key}",
                self._client.set_model_version_tag,
                self.model_name,
                str(n),
                key,
                str(value),
            )

    def log_json(self, model_version: int | str, artifact_file: str, data: dict) -> str:
        """Store data as a JSON artifact of the run that produced the version; its artifact URI."""
        import json

        mv = self.version(model_version)
        if not mv.run_id:
            raise RegistryError(f"version {mv.version} has no run to store {artifact_file} in")
        self._call(
            f"storing {artifact_file} on version {mv.version}'s run {mv.run_id}",
            self._client.log_text,
            mv.run_id,
            json.dumps(data, indent=2, default=str) + "\n",
            artifact_file,
        )
        return f"runs:/{mv.run_id}/{artifact_file}"

    # -- artifacts ------------------------------------------------------------------------
    def fetch_model(self, model_version: int | str, out_dir: str | Path) -> Path:
        """Download the version's artifact to out_dir/model and write out_dir/versions.txt = 1.0.N."""
        import mlflow.artifacts

        n = _number(model_version)
        mv = self.version(n)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        dest = out / "model"
        if dest.exists():
            raise RegistryError(f"{dest} already exists; fetch-model writes into a fresh directory")
        with tempfile.TemporaryDirectory(dir=out, prefix=".fetch-") as tmp:
            got = Path(
                self._call(
                    f"downloading the artifact of version {n} ({mv.source})",
                    mlflow.artifacts.download_artifacts,
                    artifact_uri=mv.source,
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
            )
            if not (got / "model.json").is_file():
                raise RegistryError(f"version {n}'s artifact {mv.source} has no model.json (not a GourmetGram model)")
            shutil.move(str(got), dest)
        (out / "versions.txt").write_text(names.version_string(n) + "\n")
        return dest


def _reraise(exc: Exception):
    raise exc


def _number(model_version: int | str) -> int:
    return names.version_number(model_version)
