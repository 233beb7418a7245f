"""The schema check: current, behind (refused, naming riskops db upgrade), or from a newer
riskops; the CLI migrates an embedded SQLite store, a server only checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from riskops.config import load_settings
from riskops.context import open_context
from riskops.errors import ConflictError
from riskops.store import Store, open_store
from riskops.store.schema import require_current, schema_state, upgrade


def _downgrade(store: Store, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from riskops.store.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _set_revision(store: Store, revision: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_new_store_has_no_schema_and_upgrade_makes_it_current(store_url: str) -> None:
    store = open_store(store_url, migrate=False)
    try:
        state = schema_state(store)
        assert state.current is None
        assert not state.up_to_date
        assert "no schema yet" in state.describe()
        before, after = upgrade(store)
        assert before.current is None
        assert after.up_to_date
        assert after.current == after.head
        require_current(store)
        assert upgrade(store)[0].up_to_date  # idempotent
    finally:
        store.dispose()


def test_a_store_behind_is_refused_naming_the_upgrade(store_url: str) -> None:
    store = open_store(store_url)
    try:
        _downgrade(store, "0003")
        state = schema_state(store)
        assert state.known
        assert state.describe() == f"schema behind: revision 0003, newest {state.head}"
        with pytest.raises(ConflictError, match="schema behind: revision 0003") as info:
            require_current(store)
        assert info.value.hint == "As the role that owns the tables, run: riskops db upgrade"
    finally:
        store.dispose()


def test_a_schema_from_a_newer_riskops_is_refused(store_url: str) -> None:
    store = open_store(store_url)
    try:
        _set_revision(store, "9999")
        assert not schema_state(store).known
        with pytest.raises(ConflictError, match="which this riskops does not know"):
            require_current(store)
        with pytest.raises(ConflictError, match="which this riskops does not know"):
            upgrade(store)
    finally:
        store.dispose()


def test_the_cli_migrates_an_embedded_store_but_a_server_only_checks(tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path)})
    with pytest.raises(ConflictError, match="no schema yet"):
        open_context(settings, schema="check")
    ctx = open_context(settings)  # "auto": SQLite is migrated
    try:
        assert schema_state(ctx.store).up_to_date
        _downgrade(ctx.store, "0003")
    finally:
        ctx.close()
    with pytest.raises(ConflictError, match="schema behind"):
        open_context(settings, schema="check")
    open_context(settings).close()  # the CLI brings it up again
    open_context(settings, schema="check").close()


@pytest.mark.integration
def test_the_cli_never_migrates_a_postgresql_store(pg_schema_url: str, tmp_path: Path) -> None:
    settings = load_settings({"RISKOPS_HOME": str(tmp_path), "RISKOPS_DATABASE_URL": pg_schema_url})
    with pytest.raises(ConflictError, match="no schema yet") as info:
        open_context(settings)
    assert info.value.hint is not None
    assert "riskops db upgrade" in info.value.hint
