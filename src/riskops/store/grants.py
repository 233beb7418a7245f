"""The least-privilege runtime role of a PostgreSQL store: the SQL that makes it.

Serving and the everyday CLI need to read every riskops table and to insert into it, but change
rows only where the code does:

================  =========================================================================
table             beyond SELECT and INSERT
================  =========================================================================
models            UPDATE (training refreshes the model's tier, owner and use)
model_versions    UPDATE (lifecycle state, ``updated_at``)
api_keys          UPDATE (revocation)
audit_head        UPDATE (the chain's head moves with every event; ``SELECT … FOR UPDATE``)
decision_batches  UPDATE (a sealed batch is given the sequence number of its audit event)
subject_keys      DELETE (erasure deletes a subject's key, GDPR Art. 17)
alembic_version   SELECT only (the schema check)
================  =========================================================================

plus CONNECT on the database, USAGE on the schema and USAGE on the id sequences. The runtime
role owns nothing, so it cannot ALTER, DROP or TRUNCATE a table, nor disable or drop the
triggers that keep the audit chain append-only; only the owner role (which runs
``riskops db upgrade``) can. ``owner_role`` adds the statements that make that role the owner
of the riskops tables.

Example::

    for statement in runtime_grants(store, "riskops_runtime", owner_role="riskops_owner"):
        print(statement + ";")
"""

from __future__ import annotations

import re

from sqlalchemy import text

from riskops.errors import InputError
from riskops.store.database import Store
from riskops.store.tables import Base

ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
VERSION_TABLE = "alembic_version"
UPDATES: dict[str, tuple[str, ...]] = {
    "models": ("UPDATE",),
    "model_versions": ("UPDATE",),
    "api_keys": ("UPDATE",),
    "audit_head": ("UPDATE",),
    "decision_batches": ("UPDATE",),
    "subject_keys": ("DELETE",),
    "monitoring_alerts": ("UPDATE",),  # an open alert is refreshed, then resolved
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _role(name: str, option: str) -> str:
    if not ROLE_NAME.fullmatch(name):
        raise InputError(
            f"{option} {name!r} is not a role name riskops writes into SQL: letters, digits and "
            "underscores, starting with a letter or underscore, at most 63 characters.",
            hint=f"For example {option} riskops_runtime",
        )
    return _quote(name)


def runtime_grants(store: Store, runtime_role: str, *, owner_role: str | None = None) -> list[str]:
    """The SQL statements (without their ``;``) that make ``runtime_role`` a least-privilege
    role on ``store``'s schema, and with ``owner_role`` that role the owner of its tables."""
    runtime = _role(runtime_role, "--runtime-role")
    owner = _role(owner_role, "--owner-role") if owner_role else None
    if owner_role == runtime_role:
        raise InputError(
            f"The runtime role and the owner role are both {runtime_role!r}; the runtime role "
            "must not own the tables.",
            hint="Name two roles: --runtime-role riskops_runtime --owner-role riskops_owner",
        )
    if store.dialect != "postgresql":
        raise InputError(
            f"riskops db grants writes PostgreSQL grants; this store is {store.dialect}, which "
            "has no roles.",
            hint="Set RISKOPS_DATABASE_URL to the PostgreSQL store, e.g. "
            "postgresql+psycopg://owner@db:5432/riskops",
        )
    tables = [t.name for t in Base.metadata.sorted_tables]
    with store.engine.connect() as connection:
        database, schema = connection.execute(
            text("SELECT current_database(), current_schema()")
        ).one()
        sequences = []
        for table in Base.metadata.sorted_tables:
            column = table.autoincrement_column
            if column is None:
                continue
            found = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": f"{_quote(schema)}.{_quote(table.name)}", "column": column.name},
            ).scalar()
            if found:
                sequences.append(str(found))
    qualified = {name: f"{_quote(schema)}.{_quote(name)}" for name in [*tables, VERSION_TABLE]}
    statements = [
        f"-- Least-privilege runtime role {runtime_role} on {database}.{schema}",
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"'{runtime_role}') THEN CREATE ROLE {runtime} LOGIN; END IF; END $$",
        f"ALTER ROLE {runtime} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
        f"-- Set its password with: ALTER ROLE {runtime} PASSWORD '…' (or use trust/cert auth)",
    ]
    if owner is not None:
        statements.append(f"-- {owner_role} owns the riskops tables and runs riskops db upgrade")
        statements.append(f"GRANT USAGE, CREATE ON SCHEMA {_quote(schema)} TO {owner}")
        statements += [f"ALTER TABLE {qualified[name]} OWNER TO {owner}" for name in qualified]
    everything = ", ".join(qualified.values())
    statements += [
        f"REVOKE ALL ON TABLE {everything} FROM {runtime}",
        f"REVOKE CREATE ON SCHEMA {_quote(schema)} FROM {runtime}",
        f"GRANT CONNECT ON DATABASE {_quote(database)} TO {runtime}",
        f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {runtime}",
        f"GRANT SELECT ON TABLE {qualified[VERSION_TABLE]} TO {runtime}",
    ]
    for name in tables:
        privileges = ", ".join(("SELECT", "INSERT", *UPDATES.get(name, ())))
        statements.append(f"GRANT {privileges} ON TABLE {qualified[name]} TO {runtime}")
    statements += [f"GRANT USAGE ON SEQUENCE {sequence} TO {runtime}" for sequence in sequences]
    return statements


def as_script(statements: list[str]) -> str:
    """The statements as a psql script: one per line, each SQL statement ending in ``;``."""
    return "\n".join(s if s.startswith("--") else s + ";" for s in statements) + "\n"
