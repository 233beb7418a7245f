"""Opening the store: engine per URL, schema migrations, transactions.

``sqlite:///path`` and ``postgresql+psycopg://…`` run the same code. On SQLite each transaction
starts with ``BEGIN IMMEDIATE`` so that writers are serialised and an append to the audit chain
never races; on PostgreSQL the chain head row is locked with ``SELECT … FOR UPDATE``.

**Timeouts.** No call waits on the database for ever: on PostgreSQL, opening a connection
gives up after ``connect_timeout`` (psycopg's ``connect_timeout``, whole seconds, at least 2),
a statement after ``statement_timeout`` (``-c statement_timeout``, added to any ``options`` of
the URL; migrations lift it for their own transaction) and waiting for a pooled connection
after ``statement_timeout`` too; unacknowledged data on a connection (a host gone) closes it
after both (``tcp_user_timeout``). On SQLite a writer waits ``statement_timeout`` for the
lock (``busy_timeout``). Each surfaces as a BackendError saying which limit was hit.
A scoring server passes a shorter ``read_statement_timeout`` for :meth:`Store.reading` (on
PostgreSQL a second engine; SQLite readers take no lock).

Example::

    store = open_store("sqlite:///.riskops/riskops.db")
    with store.transaction() as session:
        ...
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from riskops.errors import BackendError, ConfigError, MissingExtraError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds
DEFAULT_STATEMENT_TIMEOUT = 10.0
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cut by statement_timeout
UNDEFINED_TABLE = "42P01"
AUDIT_ACTIONS = "riskops.audit_actions"  # session.info key: actions appended in the transaction
_UNREACHABLE_HINT = "Check RISKOPS_DATABASE_URL and that the database server runs: riskops doctor"


class Store:
    """A handle on the riskops database. Cheap to keep, safe to share between threads."""

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
        read_statement_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.read_statement_timeout = read_statement_timeout or statement_timeout
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        # Called after a transaction that appended audit events has committed, with the
        # actions it appended (the checkpointer: riskops.audit.log.install_checkpointing).
        self.after_audit_commit: list[Callable[[list[str]], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back entirely on any error."""
        with self._session(self._sessions, self.statement_timeout) as session:
            yield session
            actions: list[str] = session.info.pop(AUDIT_ACTIONS, [])
        if actions:
            for hook in self.after_audit_commit:
                hook(actions)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: on SQLite it takes no write lock, so readers never queue
        behind writers (WAL gives them a consistent snapshot)."""
        with self._session(self._read_sessions, self.read_statement_timeout) as session:
            yield session

    @contextmanager
    def _session(self, factory: sessionmaker[Session], timeout: float) -> Iterator[Session]:
        session = factory()
        try:
            with session.begin():
                yield session
        except (OperationalError, PoolTimeout) as exc:
            raise self.unavailable(exc, timeout) from exc
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) != UNDEFINED_TABLE:
                raise
            raise self.unavailable(exc, timeout) from exc
        finally:
            session.close()

    def unavailable(self, exc: Exception, timeout: float | None = None) -> BackendError:
        """The BackendError for a database error: which timeout ran out (``timeout``: the
        statement timeout that applied), or what it said."""
        limit = self.statement_timeout if timeout is None else timeout
        orig = getattr(exc, "orig", None) or exc
        text = " ".join(str(orig).split())
        if isinstance(exc, PoolTimeout):
            return BackendError(
                f"The riskops database did not give a connection within "
                f"{limit:g} s: every pooled connection is busy or stuck.",
                hint="The database is slow or down; retry later. RISKOPS_DB_STATEMENT_TIMEOUT "
                "sets this limit; riskops doctor checks the connection.",
            )
        if getattr(orig, "sqlstate", None) == QUERY_CANCELED or "statement timeout" in text:
            return BackendError(
                f"The riskops database did not finish a statement within "
                f"{limit:g} s (statement timeout).",
                hint="The database is slow or overloaded; retry later, or raise "
                "RISKOPS_DB_STATEMENT_TIMEOUT. riskops doctor checks the connection.",
            )
        if "timeout expired" in text or "timed out" in text:
            return BackendError(
                f"Could not connect to the riskops database within "
                f"{_connect_seconds(self.connect_timeout)} s: {text}",
                hint=f"{_UNREACHABLE_HINT}. RISKOPS_DB_CONNECT_TIMEOUT sets this limit.",
            )
        if getattr(orig, "sqlstate", None) == UNDEFINED_TABLE or "no such table" in text:
            return BackendError(
                f"The riskops database answers but has no riskops schema (or an older one): {text}",
                hint="Bring the schema up to date first: riskops init for a new workspace, any "
                "riskops command that opens it (e.g. riskops models) for an existing one; a "
                "scoring server never migrates on start.",
            )
        if "database is locked" in text:
            return BackendError(
                f"The riskops database stayed locked by another writer for {limit:g} s.",
                hint="Another riskops command holds the SQLite file; retry when it ends, or "
                "raise RISKOPS_DB_STATEMENT_TIMEOUT.",
            )
        return BackendError(f"The riskops database did not answer: {orig}", hint=_UNREACHABLE_HINT)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                if self.dialect == "postgresql":  # a long migration is not a stuck statement
                    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except (OperationalError, PoolTimeout) as exc:
            failure = self.unavailable(exc)
            raise BackendError(
                f"Could not migrate the riskops database: {failure.message}", hint=failure.hint
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


def open_store(
    url: str,
    *,
    migrate: bool = True,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
    read_statement_timeout: float | None = None,
    **engine_options: Any,
) -> Store:
    """Open (and by default migrate) the store at ``url``, every connection bounded by
    ``connect_timeout`` and every statement by ``statement_timeout`` seconds, or
    ``read_statement_timeout`` for :meth:`Store.reading` when given (see the module
    docstring). Opening does not connect: a store that is down fails at its first use."""
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
            busy_ms = int(statement_timeout * 1000)
            engine = create_engine(url, **engine_options)
            _configure_sqlite(engine, immediate=True, busy_ms=busy_ms)
            read_engine = create_engine(url, **engine_options)
            _configure_sqlite(read_engine, immediate=False, busy_ms=busy_ms)
        elif backend == "postgresql":
            extra_args = engine_options.pop("connect_args", {})
            engine = _postgres_engine(
                url, connect_timeout, statement_timeout, extra_args, engine_options
            )
            read_engine = engine
            if read_statement_timeout not in (None, statement_timeout):
                read_engine = _postgres_engine(
                    url, connect_timeout, float(read_statement_timeout), extra_args, engine_options
                )
        else:
            raise ConfigError(
                f"RISKOPS_DATABASE_URL uses {backend!r}. Valid schemes are: sqlite, postgresql.",
                hint="For example postgresql+psycopg://user@host:5432/riskops",
            )
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        if "psycopg" in str(exc):
            raise MissingExtraError("A PostgreSQL store", "psycopg", "postgres") from exc
        raise
    store = Store(
        engine,
        read_engine,
        connect_timeout=connect_timeout,
        statement_timeout=statement_timeout,
        read_statement_timeout=read_statement_timeout,
    )
    if migrate:
        store.migrate()
    return store


def _postgres_engine(
    url: str,
    connect_timeout: float,
    statement_timeout: float,
    connect_args: dict[str, Any],
    engine_options: dict[str, Any],
) -> Engine:
    """An engine whose connections have the timeouts of the module docstring."""
    options = " ".join(
        part
        for part in (
            make_url(url).query.get("options"),
            f"-c statement_timeout={int(statement_timeout * 1000)}",
        )
        if isinstance(part, str) and part
    )
    args = {
        "connect_timeout": _connect_seconds(connect_timeout),
        "options": options,
        "tcp_user_timeout": int((connect_timeout + statement_timeout) * 1000),
        **connect_args,
    }
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args=args,
        **{"pool_timeout": statement_timeout, **engine_options},
    )


def _connect_seconds(seconds: float) -> int:
    """psycopg's connect_timeout: whole seconds, at least 2 (libpq's own floor)."""
    return max(2, math.ceil(seconds))


def _configure_sqlite(engine: Engine, *, immediate: bool, busy_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy own the transaction boundaries, so BEGIN IMMEDIATE below takes effect.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
