"""Migration 0009 (effective challenge) on SQLite and PostgreSQL: up from 0008 on a store that
already holds a sign-off, which keeps its free-text conditions and gets an empty opinion; the
findings history is append-only; and down again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from riskops.store import Store, open_store
from tests.unit.store.test_migration_0005 import _migrate

NEW_TABLES = {"approval_conditions", "findings", "finding_updates"}
AT = "2026-12-07 10:00:00+00:00"


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_0009_adds_the_opinion_conditions_and_findings_and_goes_back(store_url: str) -> None:
    store = open_store(store_url)
    try:
        _migrate(store, "downgrade", "0008")
        assert not NEW_TABLES & _tables(store)
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO approvals (model_name, version, actor, role, note, findings, "
                    "conditions, decision, created_at) VALUES ('m', 1, 'victor', 'validator', "
                    "'', 'none', '[\"monitor PSI monthly\"]', 'approve', :t)"
                ),
                {"t": AT},
            )
        _migrate(store, "upgrade", "head")
        assert _tables(store) >= NEW_TABLES
        with store.engine.begin() as connection:
            row = connection.execute(text("SELECT opinion, conditions FROM approvals")).one()
            assert row[0] == ""
            assert "monitor PSI monthly" in str(row[1])
            assert (
                connection.execute(text("SELECT count(*) FROM approval_conditions")).scalar() == 0
            )
            connection.execute(
                text(
                    "INSERT INTO findings (model_name, version, gate, text, severity, owner, due, "
                    "status, raised_by, created_at, updated_at) VALUES ('m', 1, NULL, 't', "
                    "'low', 'alice', '2027-01-01', 'open', 'victor', :t, :t)"
                ),
                {"t": AT},
            )
            connection.execute(
                text(
                    "INSERT INTO finding_updates (finding_id, status, note, actor, role, "
                    "created_at) VALUES (1, 'open', 'raised', 'victor', 'validator', :t)"
                ),
                {"t": AT},
            )
        for statement in ("UPDATE finding_updates SET note = 'x'", "DELETE FROM finding_updates"):
            with (
                pytest.raises(DatabaseError, match="finding_updates is append-only"),
                store.engine.begin() as connection,
            ):
                connection.execute(text(statement))
        with store.engine.begin() as connection:
            connection.execute(text("UPDATE findings SET status = 'closed'"))  # status moves
        _migrate(store, "downgrade", "0008")
        assert not NEW_TABLES & _tables(store)
        columns = {c["name"] for c in inspect(store.engine).get_columns("approvals")}
        assert "opinion" not in columns
        _migrate(store, "upgrade", "head")
    finally:
        store.dispose()
