"""MLflow's basic auth on the cluster, from invoke's side: read the credentials, never print them.

The platform chart runs MLflow with its basic-auth app; the user is in Secret mlflow-credentials
(generated once by ansible/argocd/argocd_add_platform.yml). `invoke status`, `promote` and
`rollback` read it over ssh (kubectl prints it to our pipe, not to the terminal), then hand it to
the MLflow client through MLFLOW_TRACKING_USERNAME/PASSWORD and to curl through a 0600 netrc file.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.errors import BadAnswer
from gourmetgram.paths import REPO_ROOT

NETRC_FILE = REPO_ROOT / ".state" / "cluster" / "mlflow.netrc"


def credentials_secret() -> str:
    """The Secret's name: one source, the platform chart's values."""
    return str(values.chart_values(names.PLATFORM)["mlflow"]["credentials"])


def credentials_from_secret_json(text: str) -> tuple[str, str]:
    """(username, password) from `kubectl get secret -o json`; ValueError (without the secret) otherwise."""
    try:
        data = json.loads(text)["data"]
        return base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode()
    except (ValueError, KeyError, TypeError):
        raise BadAnswer(
            f"Secret {credentials_secret()} in {names.namespace(names.PLATFORM)} has no username/password: "
            "run `invoke argocd.add --env platform`"
        ) from None


def use_credentials(username: str, password: str, environ: dict | None = None) -> None:
    """The MLflow client of this process authenticates with them (its documented environment variables)."""
    environ = os.environ if environ is None else environ
    environ["MLFLOW_TRACKING_USERNAME"] = username
    environ["MLFLOW_TRACKING_PASSWORD"] = password


def write_netrc(host: str, username: str, password: str, path: Path | None = None) -> Path:
    """A netrc file for curl (--netrc-file), readable by this user only."""
    path = path or NETRC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(f"machine {host}\nlogin {username}\npassword {password}\n")
    return path
