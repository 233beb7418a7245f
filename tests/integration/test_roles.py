"""Two PostgreSQL roles: the owner migrates (``riskops db upgrade``); the runtime role, made from
the SQL that ``riskops db grants`` prints, serves decisions, flushes and seals them, and reads
them, but cannot alter or drop a table nor disable or drop the audit chain's triggers."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from riskops.audit import verify
from riskops.context import open_context
from riskops.decisions.sealing import verify_decisions
from riskops.governance.findings import raise_finding, update_finding
from riskops.registry.versions import ModelRef
from riskops.serving.auth import create_key
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, admin_engine, approve_and_deploy, drop_store_schema
from tests.integration.test_serving_durability import (
    RISKOPS,
    _backlog,
    _decide,
    _requests,
    _wait,
    servers,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Roles:
    owner_url: str
    runtime_url: str
    owner: str
    runtime: str
    schema: str


def _url(base: str, user: str, schema: str) -> str:
    parsed = make_url(base).set(username=user, password=None)
    parsed = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Roles]:
    """An owner role with a schema of its own; the runtime role's name (the grants make it).
    Both roles and the schema are dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    owner, runtime, schema = f"riskops_owner_{suffix}", f"riskops_rt_{suffix}", f"rk_{suffix}"
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        connection.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner}"'))
    try:
        yield Roles(
            _url(postgres_url, owner, schema),
            _url(postgres_url, runtime, schema),
            owner,
            runtime,
            schema,
        )
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename IN (:a, :b)"
                ),
                {"a": owner, "b": runtime},
            )
            drop_store_schema(connection, schema)
            for role in (runtime, owner):
                exists = connection.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).scalar()
                if exists:
                    connection.execute(text(f'DROP OWNED BY "{role}"'))
                    connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RISKOPS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_runtime_role_serves_but_cannot_alter_or_drop(
    roles: Roles,
    postgres_url: str,
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    home = tmp_path / "ws"
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RISKOPS_", "MLFLOW_"))},
        "RISKOPS_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    owner_env = {**base_env, "RISKOPS_DATABASE_URL": roles.owner_url}

    # The owner migrates; a process that only checks is refused until it has.
    behind = _cli(owner_env, "db", "check")
    assert behind.returncode == 1
    assert "riskops db upgrade" in behind.stdout
    upgraded = _cli(owner_env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert _cli(owner_env, "db", "check").returncode == 0

    # The owner sets the workspace up (training and deployment are not the runtime's job).
    clean_env.setenv("RISKOPS_DATABASE_URL", roles.owner_url)
    ctx = open_context(init_workspace(home, people=PEOPLE))
    try:
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        key = create_key(
            ctx, "portal", client="acme", scopes=["score", "read_decisions"], actor="oscar"
        ).token
    finally:
        ctx.close()

    grants = _cli(
        owner_env, "db", "grants", "--runtime-role", roles.runtime, "--owner-role", roles.owner
    )
    assert grants.returncode == 0, grants.stderr
    admin = admin_engine(postgres_url)
    try:
        with admin.connect() as connection:  # a DBA pipes the script to psql
            for chunk in grants.stdout.split(";\n"):
                statement = "\n".join(
                    line for line in chunk.splitlines() if not line.startswith("--")
                ).strip()
                if statement:
                    connection.exec_driver_sql(statement)
            owns = connection.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = :s AND tableowner = :r"),
                {"s": roles.schema, "r": roles.runtime},
            ).scalar()
            assert owns == 0
    finally:
        admin.dispose()

    # The runtime role serves: decisions answered, flushed, sealed and read back.
    monkeypatch.setenv("RISKOPS_DATABASE_URL", roles.runtime_url)
    runtime_ctx = open_context(init_workspace(home, force=True, people=PEOPLE), schema="check")
    try:
        with servers(runtime_ctx, tmp_path) as start:
            server = start()
            with httpx.Client(base_url=server.base, timeout=10.0) as client:
                answered = [
                    _decide(client, key, f"G-{i}", features)
                    for i, features in enumerate(_requests(20))
                ]
                _wait(lambda: _backlog(client) == 0, "the flush as the runtime role", 45.0)
                shown = client.get(
                    f"/v1/decisions/{answered[0]}", headers={"Authorization": f"Bearer {key}"}
                )
                assert shown.status_code == 200, shown.text
            assert "flush failed" not in server.log_text()
        runtime_env = {**base_env, "RISKOPS_DATABASE_URL": roles.runtime_url}
        read = _cli(runtime_env, "decisions", "show", answered[-1], "--json")
        assert read.returncode == 0, read.stderr
        assert _cli(runtime_env, "audit", "verify").returncode == 0
        assert verify(runtime_ctx.store).ok
        # The everyday CLI's governance writes, as the runtime role: a finding and its steps.
        raised = raise_finding(
            runtime_ctx,
            ModelRef("credit-scoring", 1),
            severity="low",
            owner="alice",
            due=date(2027, 6, 30),
            text="Written by the runtime role.",
            actor="victor",
        )
        moved = update_finding(
            runtime_ctx, raised.id, status="remediated", note="Done.", actor="alice"
        )
        assert [s.status for s in moved.history] == ["open", "remediated"]
        assert verify_decisions(runtime_ctx.store).ok
    finally:
        runtime_ctx.close()

    # …and is refused everything that would let it rewrite history.
    runtime = create_engine(roles.runtime_url, isolation_level="AUTOCOMMIT")
    try:
        with runtime.connect() as connection:
            for statement, message in (
                ("ALTER TABLE audit_events DISABLE TRIGGER ALL", "must be owner of table"),
                (
                    "DROP TRIGGER audit_events_append_only ON audit_events",
                    "must be owner of (relation|table)",
                ),
                ("DROP TABLE decisions", "must be owner of table"),
                ("TRUNCATE audit_events", "permission denied"),
                ("UPDATE audit_events SET actor = 'mallory'", "permission denied"),
                ("DELETE FROM decisions", "permission denied"),
                ("CREATE TABLE sneaky (id int)", "permission denied"),
            ):
                with pytest.raises(ProgrammingError, match=message):
                    connection.execute(text(statement))
    finally:
        runtime.dispose()
