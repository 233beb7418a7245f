"""Bulk rows straight through the driver, for the audit log's hot paths.

The ORM and Core process every parameter and every result value in Python (type processors,
compiled-parameter dictionaries): for an append of 1,000 audit events or a read of a million,
that costs more than the database does. These two helpers hand plain tuples to the DBAPI
cursor of the session's own connection, so they run inside the session's transaction.

Example::

    with store.transaction() as session:
        insert_rows(session, "audit_tree", ("level", "idx", "hash"), [(0, 7, digest)])
    with store.reading() as session:
        for seq, hash_ in stream_rows(session, "SELECT seq, hash FROM audit_events ORDER BY seq"):
            ...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from riskops.store.tables import Base

_cursor_names = itertools.count(1)


def placeholder(session: Session) -> str:
    """The driver's positional parameter marker: ``?`` for sqlite3, ``%s`` for psycopg."""
    return "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """``INSERT`` every tuple of ``rows`` (values in ``columns`` order) in one round trip: an
    executemany on SQLite; on PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` with a typed
    array per column, sent in binary (psycopg's executemany sends a statement per row; bytea
    arrays in text form cost three times as much). Pending ORM changes
    are flushed first, so the rows land after them as an ORM insert would."""
    if not rows:
        return
    session.flush()
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
        connection.exec_driver_sql(statement, list(rows))
        return
    target = Base.metadata.tables[table]
    arrays = ", ".join(
        f"%b::{target.c[name].type.compile(connection.dialect)}[]" for name in columns
    )
    statement = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
    connection.exec_driver_sql(statement, tuple(list(values) for values in zip(*rows, strict=True)))


def stream_rows(
    session: Session, statement: str, parameters: Sequence[Any] = (), *, batch: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``statement`` (positional ``parameters``, :func:`placeholder` marks) as plain
    tuples, streamed: a named server-side cursor on PostgreSQL fetching ``batch`` at a time, the
    sqlite3 cursor's own iteration on SQLite."""
    session.flush()
    dbapi: Any = session.connection().connection.dbapi_connection  # sqlite3 or psycopg
    if session.get_bind().dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"riskops_rows_{next(_cursor_names)}")
        cursor.itersize = batch
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(statement, tuple(parameters))
        yield from cursor
    finally:
        cursor.close()


__all__ = ["insert_rows", "placeholder", "stream_rows"]
