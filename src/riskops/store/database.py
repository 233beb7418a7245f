"""Opening the store: engine per URL, schema migrations, transactions.

``sqlite:///path`` and ``postgresql+psycopg://…`` run the same code. On SQLite each transaction
starts with ``BEGIN IMMEDIATE`` so that writers are serialised and an append to the audit chain
never races; on PostgreSQL the chain head row is locked with ``SELECT … FOR UPDATE``.

Example::

    store = open_store("sqlite:///.riskops/riskops.db")
    with store.transaction() as session:
        ...
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from riskops.errors import BackendError, ConfigError, MissingExtraError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Store:
    """A handle on the riskops database. Cheap to keep, safe to share between threads."""

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back entirely on any error."""
        with self._session(self._sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: on SQLite it takes no write lock, so readers never queue
        behind writers (WAL gives them a consistent snapshot)."""
        with self._session(self._read_sessions) as session:
            yield session

    @contextmanager
    def _session(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        session = factory()
        try:
            with session.begin():
                yield session
        except OperationalError as exc:
            raise BackendError(
                f"The riskops database did not answer: {exc.orig}",
                hint="Check RISKOPS_DATABASE_URL and that the database server runs: riskops doctor",
            ) from exc
        finally:
            session.close()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise BackendError(
                f"Could not migrate the riskops database: {exc.orig}",
                hint="Check RISKOPS_DATABASE_URL and that the database server runs: riskops doctor",
            ) from exc

    def is_initialised(self) -> bool:
        """True when the schema exists (``riskops init`` or any command has migrated it)."""
        try:
            return inspect(self.engine).has_table("audit_events")
        except OperationalError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def open_store(url: str, *, migrate: bool = True, **engine_options: Any) -> Store:
    """Open (and by default migrate) the store at ``url``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"RISKOPS_DATABASE_URL={url!r} is not a database URL.",
            hint="For example sqlite:///.riskops/riskops.db or "
            "postgresql+psycopg://user@host:5432/riskops",
        ) from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            if parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, **engine_options)
            _configure_sqlite(engine, immediate=True)
            read_engine = create_engine(url, **engine_options)
            _configure_sqlite(read_engine, immediate=False)
        elif backend == "postgresql":
            engine = create_engine(url, pool_pre_ping=True, **engine_options)
            read_engine = engine
        else:
            raise ConfigError(
                f"RISKOPS_DATABASE_URL uses {backend!r}. Valid schemes are: sqlite, postgresql.",
                hint="For example postgresql+psycopg://user@host:5432/riskops",
            )
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        if "psycopg" in str(exc):
            raise MissingExtraError("A PostgreSQL store", "psycopg", "postgres") from exc
        raise
    store = Store(engine, read_engine)
    if migrate:
        store.migrate()
    return store


def _configure_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy own the transaction boundaries, so BEGIN IMMEDIATE below takes effect.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
