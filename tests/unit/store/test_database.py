from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url

from riskops.errors import BackendError, ConfigError
from riskops.store import open_store
from riskops.store.tables import Base


def test_migrations_build_exactly_the_declared_tables(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with store.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert store.is_initialised()
    finally:
        store.dispose()


def test_migrating_twice_changes_nothing(store_url: str) -> None:
    open_store(store_url).dispose()
    store = open_store(store_url)
    assert store.is_initialised()
    store.dispose()


def test_a_new_sqlite_store_creates_its_folder(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'riskops.db'}")
    assert (tmp_path / "deep" / "er" / "riskops.db").is_file()
    store.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql+pymysql://u@h/db", "Valid schemes are: sqlite, postgresql"),
    ],
)
def test_a_bad_url_says_what_to_use(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


# -- timeouts ----------------------------------------------------------------------------------


def test_a_statement_past_the_timeout_is_a_backend_error_naming_the_limit(store_url: str) -> None:
    store = open_store(store_url, statement_timeout=0.3)
    try:
        if store.dialect == "postgresql":
            with (
                pytest.raises(BackendError, match=r"did not finish a statement within 0\.3 s") as e,
                store.reading() as session,
            ):
                session.execute(text("SELECT pg_sleep(5)"))
            assert "RISKOPS_DB_STATEMENT_TIMEOUT" in (e.value.hint or "")
        else:  # SQLite: a writer waits for the lock another writer holds, that long
            with store.transaction() as session:
                session.execute(text("DELETE FROM api_keys"))
                with (
                    pytest.raises(BackendError, match=r"stayed locked .* for 0\.3 s") as e,
                    store.transaction() as other,
                ):
                    other.execute(text("DELETE FROM api_keys"))
            assert "RISKOPS_DB_STATEMENT_TIMEOUT" in (e.value.hint or "")
    finally:
        store.dispose()


@pytest.mark.integration
def test_the_statement_timeout_keeps_the_options_of_the_url(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url, statement_timeout=7)
    try:
        with store.reading() as session:
            assert session.execute(text("SHOW statement_timeout")).scalar() == "7s"
            assert session.execute(text("SHOW search_path")).scalar() == (
                make_url(pg_schema_url).query["options"].removeprefix("-csearch_path=")
            )
    finally:
        store.dispose()


def test_migrations_are_not_cut_by_the_statement_timeout(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration step slower than the statement timeout (here a 0.2 s sleep inside the
    migration's transaction, under a 0.05 s timeout) still runs to the end."""
    from alembic import command

    upgrade = command.upgrade

    def slow_upgrade(config: Any, revision: str) -> None:
        connection = config.attributes["connection"]
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_sleep(0.2)")
        upgrade(config, revision)

    monkeypatch.setattr(command, "upgrade", slow_upgrade)
    store = open_store(store_url, statement_timeout=0.05)
    try:
        assert store.is_initialised()
        if store.dialect == "postgresql":  # outside a migration the same sleep is cut
            with pytest.raises(BackendError, match="statement timeout"), store.reading() as s:
                s.execute(text("SELECT pg_sleep(0.2)"))
    finally:
        store.dispose()


def test_a_server_that_accepts_but_never_answers_fails_the_connect_in_time() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshake; nothing ever answers
        port = silent.getsockname()[1]
        store = open_store(
            f"postgresql+psycopg://nobody@127.0.0.1:{port}/riskops",
            migrate=False,
            connect_timeout=1,
        )
        started = time.monotonic()
        try:
            with (
                pytest.raises(BackendError, match=r"Could not connect .* within 2 s") as e,
                store.reading() as session,
            ):
                session.execute(text("SELECT 1"))
        finally:
            store.dispose()
        assert time.monotonic() - started < 30  # not the 130 s psycopg waits by default
        assert "RISKOPS_DB_CONNECT_TIMEOUT" in (e.value.hint or "")


@pytest.mark.integration
def test_a_shorter_read_statement_timeout_bounds_reads_only(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url, statement_timeout=10, read_statement_timeout=0.3)
    try:
        with store.transaction() as session:
            session.execute(text("SELECT pg_sleep(0.5)"))  # a write transaction may take longer
        with (
            pytest.raises(BackendError, match=r"did not finish a statement within 0\.3 s"),
            store.reading() as session,
        ):
            session.execute(text("SELECT pg_sleep(5)"))
    finally:
        store.dispose()
