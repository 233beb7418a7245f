"""Migration 0005 (monitoring) on SQLite and PostgreSQL: up from 0004 with decisions in place,
the unique key of the aggregates enforced, and down again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from riskops.store import Store, open_store


def _migrate(store: Store, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from riskops.store.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_0005_adds_the_environment_and_the_monitoring_tables_and_goes_back(
    store_url: str,
) -> None:
    store = open_store(store_url)
    try:
        _migrate(store, "downgrade", "0004")
        assert not {"monitoring_aggregates", "monitoring_runs", "monitoring_alerts"} & _tables(
            store
        )
        columns = {c["name"] for c in inspect(store.engine).get_columns("decisions")}
        assert "environment" not in columns
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO decision_batches (merkle_root, count, first_decided_at, "
                    "last_decided_at, audit_seq, created_at) VALUES ('r', 0, :t, :t, 0, :t)"
                ),
                {"t": "2026-12-07 10:00:00+00:00"},
            )
        _migrate(store, "upgrade", "head")
        assert {"monitoring_aggregates", "monitoring_runs", "monitoring_alerts"} <= _tables(store)
        columns = {c["name"] for c in inspect(store.engine).get_columns("decisions")}
        assert "environment" in columns
        row = {
            "batch_id": 1,
            "model_name": "m",
            "version": 1,
            "environment": "production",
            "hour": "2026-12-07 10:00:00+00:00",
            "segment": "",
            "n": 1,
            "outcomes": "{}",
            "fallbacks": 0,
            "latency": "[]",
        }
        insert = text(
            "INSERT INTO monitoring_aggregates (batch_id, model_name, version, environment, "
            "hour, segment, n, outcomes, fallbacks, latency) VALUES (:batch_id, :model_name, "
            ":version, :environment, :hour, :segment, :n, :outcomes, :fallbacks, :latency)"
        )
        with store.engine.begin() as connection:
            connection.execute(insert, row)
        with (
            pytest.raises(IntegrityError, match=r"uq_monitoring_aggregate|UNIQUE"),
            store.engine.begin() as connection,
        ):
            connection.execute(insert, row)  # the same batch and window again
        _migrate(store, "downgrade", "0004")
        assert "monitoring_aggregates" not in _tables(store)
        columns = {c["name"] for c in inspect(store.engine).get_columns("decisions")}
        assert "environment" not in columns
    finally:
        store.dispose()
