"""What an insider does to rewrite the store behind the refusing triggers, for tests that show
the rewrite is caught anyway: on SQLite, anyone with the file drops the triggers; on PostgreSQL
a superuser sets ``session_replication_role = replica``, which skips ordinary triggers and that
no database setting can stop (docs/database-roles.md)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def bypass_guards(connection: Connection, *tables: str) -> None:
    """Let ``connection``'s transaction update and delete rows of ``tables`` (on PostgreSQL
    the connection's login must be a superuser; the tests' is)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        return
    for table in tables:
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": table},
        ).scalars()
        for name in list(names):
            connection.execute(text(f'DROP TRIGGER "{name}"'))
