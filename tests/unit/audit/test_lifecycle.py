"""Lifecycle rows tied to their audit events: a workspace taken through the real workflow
(train, validate, sign off, deploy, canary and its rollback, a gate-rejected version overridden
then rejected by a person, API keys made and revoked), then one row tampered with at a time.

Each tamper runs in a transaction that is rolled back, so one workspace per backend serves
every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from riskops.audit.lifecycle import LifecycleProblem, lifecycle_problems
from riskops.audit.trail import Entry, record_many
from riskops.config import load_settings
from riskops.context import Context, open_context
from riskops.governance.approvals import approve, reject
from riskops.governance.deployments import deploy, end_challenger
from riskops.governance.overrides import override_gate
from riskops.serving.auth import create_key, revoke_key
from riskops.store.tables import ApiKeyRecord, table_of
from riskops.training.pipeline import train
from riskops.validation.run import validate
from riskops.workspace import init_workspace
from tests.conftest import (
    DATA,
    OPINION,
    PEOPLE,
    SPEC,
    admin_engine,
    approve_and_deploy,
    drop_store_schema,
)

JUSTIFICATION = "Judged against the bank's own policy minimum, documented in the model file."


def _strict_spec(folder: Path) -> Path:
    """The reference spec with out-of-reach AUC and KS minimums, so its gates reject it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer.py").write_bytes((SPEC.parent / "trainer.py").read_bytes())
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["data"]["source"] = str(DATA)
    raw["gates"]["performance"].update(min_auc=0.99, min_ks=0.99)
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _walk_the_lifecycle(ctx: Context, folder: Path) -> None:
    first = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, first)
    second = train(ctx, SPEC, actor="alice").ref
    assert validate(ctx, second, actor="victor").passed
    approve(
        ctx,
        second,
        actor="victor",
        opinion=OPINION,
        findings="stable",
        conditions=["monitor PSI monthly"],
    )
    approve(ctx, second, actor="rita")
    deploy(ctx, second, environment="production", actor="oscar", mode="canary", share=0.1)
    end_challenger(ctx, "credit-scoring", environment="production", actor="oscar", reason="ok")
    strict = train(ctx, _strict_spec(folder), actor="alice").ref
    assert not validate(ctx, strict, actor="victor").passed
    for gate in ("performance.auc", "performance.ks"):
        override_gate(ctx, strict, gate=gate, justification=JUSTIFICATION, actor="rita")
    reject(ctx, strict, actor="rob", reason="Reason codes are not specific enough.")
    kept = create_key(ctx, "portal", client="acme-bank", scopes=["score"], actor="oscar")
    gone = create_key(ctx, "old-portal", client="acme-bank", scopes=["score"], actor="oscar")
    revoke_key(ctx, gone.key.prefix, actor="oscar")
    assert kept.key.prefix != gone.key.prefix


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def workspace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    """A workspace on each store backend, walked through the whole lifecycle once."""
    folder = tmp_path_factory.mktemp(f"lifecycle-{request.param}")
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "RISKOPS_HOME",
            "RISKOPS_DATABASE_URL",
            "MLFLOW_TRACKING_URI",
            "MLFLOW_REGISTRY_URI",
            "RISKOPS_ARTIFACT_ROOT",
            "RISKOPS_ACTOR",
            "RISKOPS_SECRET_KEY",
        ):
            env.delenv(name, raising=False)
        if request.param == "postgresql":
            with _pg_schema(request.getfixturevalue("postgres_url")) as url:
                env.setenv("RISKOPS_DATABASE_URL", url)
                yield from _opened(folder)
        else:
            yield from _opened(folder)


def _opened(folder: Path) -> Iterator[Context]:
    init_workspace(folder / "ws", people=PEOPLE)
    ctx = open_context(load_settings(home=folder / "ws"))
    try:
        _walk_the_lifecycle(ctx, folder / "strict")
        yield ctx
    finally:
        ctx.close()


@contextmanager
def _pg_schema(base: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for the module, dropped (CASCADE) afterwards."""
    schema = f"riskops_life_{uuid.uuid4().hex[:12]}"
    engine = admin_engine(base)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base)
        url = url.set(query={**url.query, "options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            drop_store_schema(connection, schema)
        engine.dispose()


def problems_after(ctx: Context, tamper: Callable[[Connection], Any]) -> list[LifecycleProblem]:
    """The problems found after ``tamper`` ran, in a transaction rolled back afterwards."""
    with ctx.store.engine.connect() as connection:
        transaction = connection.begin()
        try:
            tamper(connection)
            with Session(bind=connection) as session:
                return lifecycle_problems(session)
        finally:
            transaction.rollback()


def sql(statement: str) -> Callable[[Connection], Any]:
    return lambda connection: connection.execute(text(statement))


def test_an_untouched_workspace_has_no_problem(workspace: Context) -> None:
    with workspace.store.reading() as session:
        assert lifecycle_problems(session) == []
        counts = {
            table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in (
                "approvals",
                "deployments",
                "gate_overrides",
                "model_versions",
                "validation_runs",
                "gate_results",
                "api_keys",
            )
        }
    # Every table the check ties holds rows, so "no problem" is not "nothing compared".
    assert all(counts.values()), counts


def test_an_edited_approval_actor_is_named(workspace: Context) -> None:
    found = problems_after(
        workspace,
        sql(
            "UPDATE approvals SET actor = 'mallory' WHERE id = (SELECT max(id) FROM approvals "
            "WHERE decision = 'approve')"
        ),
    )
    assert len(found) == 1, found
    problem = found[0]
    assert problem.table == "approvals"
    assert problem.seq is not None
    assert 'actor is "mallory" where event' in problem.reason
    assert 'recorded "rita"' in problem.reason


def test_an_edited_deployment_version_is_named(workspace: Context) -> None:
    found = problems_after(workspace, sql("UPDATE deployments SET version = 3 WHERE id = 1"))
    assert [(p.table, p.row) for p in found] == [("deployments", "id 1")]
    assert "version is 3.0 where event" not in found[0].reason
    assert "version is 3 where event" in found[0].reason
    assert "recorded 1" in found[0].reason


def test_an_edited_digest_is_named(workspace: Context) -> None:
    forged = "sha256:" + "f" * 64
    found = problems_after(
        workspace,
        sql(f"UPDATE model_versions SET digest = '{forged}' WHERE version = 1"),  # noqa: S608
    )
    assert [(p.table, p.row) for p in found] == [("model_versions", "credit-scoring@1")]
    assert f'digest is "{forged}" where event' in found[0].reason


def test_a_deleted_deployment_row_is_named(workspace: Context) -> None:
    found = problems_after(
        workspace, sql("DELETE FROM deployments WHERE id = (SELECT max(id) FROM deployments)")
    )
    assert len(found) == 1, found
    assert found[0].table == "deployments"
    assert found[0].seq is not None
    assert "has no row for it: it was deleted" in found[0].reason


def test_an_approval_without_event_is_named(workspace: Context) -> None:
    found = problems_after(
        workspace,
        sql(
            "INSERT INTO approvals (model_name, version, actor, role, note, findings, conditions, "
            "decision, created_at) VALUES ('credit-scoring', 3, 'mallory', 'risk_officer', '', "
            "'', '[]', 'approve', '2026-12-01 10:00:00+00:00')"
        ),
    )
    assert len(found) == 1, found
    assert (found[0].table, found[0].seq) == ("approvals", None)
    assert "has no audit event: it was written outside riskops" in found[0].reason
    assert '"mallory"' in found[0].reason


@pytest.mark.parametrize(
    ("statement", "table", "words"),
    [
        (
            "UPDATE model_versions SET state = 'approved' WHERE version = 3",
            "model_versions",
            "the last event that changed its state",
        ),
        (
            "UPDATE model_versions SET spec_yaml = spec_yaml || ' ' WHERE version = 1",
            "model_versions",
            "no longer hashes to its spec_sha256",
        ),
        (
            "UPDATE gate_overrides SET justification = 'none' WHERE id = 1",
            "gate_overrides",
            'justification is "none"',
        ),
        ("UPDATE gate_results SET passed = NOT passed WHERE id = 1", "gate_results", "passed is"),
        (
            "UPDATE validation_runs SET run_by = 'mallory' WHERE id = 1",
            "validation_runs",
            'run_by is "mallory"',
        ),
        ("UPDATE api_keys SET revoked_at = NULL", "api_keys", "it was reinstated"),
        (
            "UPDATE api_keys SET scopes = '[\"score\", \"audit\"]' WHERE name = 'portal'",
            "api_keys",
            "scopes is",
        ),
        (
            "UPDATE deployments SET share = 0.5 WHERE mode = 'canary'",
            "deployments",
            "share is 0.5 where event",
        ),
    ],
)
def test_each_tied_table_names_its_tampering(
    workspace: Context, statement: str, table: str, words: str
) -> None:
    found = problems_after(workspace, sql(statement))
    assert [p.table for p in found] == [table], found
    assert words in found[0].reason


def test_a_forged_key_hash_is_named(workspace: Context) -> None:
    found = problems_after(
        workspace, sql("UPDATE api_keys SET key_sha256 = '" + "0" * 64 + "' WHERE name = 'portal'")
    )
    assert [p.table for p in found] == ["api_keys"]
    assert "key_sha256 is" in found[0].reason


def test_a_field_an_old_event_lacks_is_skipped(workspace: Context) -> None:
    """An event recorded before its payload carried a field ties only what it carries: a key
    row whose hash changed, made by an old-style event without the hash, is not a problem."""

    def old_style_key(connection: Connection) -> None:
        from datetime import UTC, datetime

        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        with Session(bind=connection) as session:
            record_many(
                session,
                [
                    Entry(
                        "oscar",
                        "operator",
                        "api_key.created",
                        "api_key",
                        "0ld0ld0ld0ld",
                        {"name": "legacy", "client": "acme-bank", "scopes": ["score"]},
                    )
                ],
                at=at,
            )
            session.flush()
        connection.execute(
            insert(table_of(ApiKeyRecord)),
            [
                {
                    "name": "legacy",
                    "client": "acme-bank",
                    "prefix": "0ld0ld0ld0ld",
                    "key_sha256": "1" * 64,
                    "scopes": ["score"],
                    "created_by": "oscar",
                    "created_at": at,
                    "revoked_at": None,
                }
            ],
        )

    assert problems_after(workspace, old_style_key) == []
