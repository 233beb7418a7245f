"""The PostgreSQL roles of a riskops store, and the SQL that makes them (``riskops db grants``).

=============  ==================================================================================
role           what it may do
=============  ==================================================================================
owner          owns the tables and functions; NOLOGIN: a migration login that is a member runs
               ``riskops db upgrade`` as it (``?options=-crole%3D<owner>``)
runtime        serving and the everyday CLI: reads every table, inserts and changes rows only
               where the code does (below); appends audit events only through
               ``append_events()`` (EXECUTE), never by INSERT or by moving the head
auditor        SELECT only (an examiner, ``riskops audit verify``)
anchor         SELECT only (the process that signs and anchors checkpoints)
superuser      installs the event trigger that refuses DDL on the audit tables, even the owner's
=============  ==================================================================================

The runtime role's rights beyond SELECT:

===================  ======================================================================
table                granted
===================  ======================================================================
audit_events         nothing more (``append_events()`` appends, with the server's time)
audit_head           nothing more (``append_events()`` moves it)
models               INSERT, UPDATE (training refreshes the model's tier, owner and use)
model_versions       INSERT, UPDATE (lifecycle state, ``updated_at``)
api_keys             INSERT, UPDATE (revocation)
findings             INSERT, UPDATE (status; each change adds a ``finding_updates`` row)
approval_conditions  INSERT, UPDATE (an open condition is closed)
decision_batches     INSERT, UPDATE (a sealed batch is given the sequence number of its event;
                     a trigger allows nothing else)
subject_keys         INSERT, DELETE (erasure deletes a subject's key, GDPR Art. 17)
alembic_version      nothing more (the schema check)
other tables         INSERT
===================  ======================================================================

plus CONNECT on the database, USAGE on the schema and on the id sequences. The runtime role
owns nothing, so it cannot ALTER, DROP or TRUNCATE a table. The owner could, but the event
trigger (:mod:`riskops.store.guards`) refuses it that on the audit tables. The script is run
by a superuser: it sets ``riskops.migrating`` for its session, since changing owners and
grants on guarded tables is itself guarded.

Example::

    statements = runtime_grants(store, "riskops_runtime", owner_role="riskops_owner",
                                auditor_role="riskops_auditor", anchor_role="riskops_anchor")
    print(as_script(statements))
"""

from __future__ import annotations

import re

from sqlalchemy import text

from riskops.errors import InputError
from riskops.store.database import Store
from riskops.store.guards import (
    MIGRATING_FLAG,
    event_trigger_names,
    event_trigger_statements,
    guard_function,
)
from riskops.store.tables import Base

ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
VERSION_TABLE = "alembic_version"
APPEND_FUNCTION = "append_events(text[], text[], text[], text[], text[], text[])"
# Functions the owner role owns (the event trigger's function stays the superuser's).
OWNED_FUNCTIONS = (
    APPEND_FUNCTION,
    "riskops_audit_append_only()",
    "riskops_guard_refuse()",
    "riskops_guard_audit_head()",
    "riskops_guard_decision_batch()",
)
READ_ONLY = ("audit_events", "audit_head")  # appended through APPEND_FUNCTION only
UPDATES: dict[str, tuple[str, ...]] = {
    "models": ("UPDATE",),
    "model_versions": ("UPDATE",),
    "api_keys": ("UPDATE",),
    "decision_batches": ("UPDATE",),
    "subject_keys": ("DELETE",),
    "monitoring_alerts": ("UPDATE",),  # an open alert is refreshed, then resolved
    "findings": ("UPDATE",),  # a finding's status moves; its history is finding_updates
    "approval_conditions": ("UPDATE",),  # an open condition is closed once
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


def runtime_grants(
    store: Store,
    runtime_role: str,
    *,
    owner_role: str | None = None,
    auditor_role: str | None = None,
    anchor_role: str | None = None,
) -> list[str]:
    """The SQL statements (without their ``;``, comments starting ``--``) a superuser runs to
    make ``runtime_role`` a least-privilege role on ``store``'s schema, ``owner_role`` the
    NOLOGIN owner of its tables and functions, the auditor and anchor roles read-only, and to
    install the event trigger guarding the audit tables."""
    runtime = _role(runtime_role, "--runtime-role")
    owner = _role(owner_role, "--owner-role") if owner_role else None
    readers: list[tuple[str, str]] = [
        (name, _role(name, option))
        for name, option in ((auditor_role, "--auditor-role"), (anchor_role, "--anchor-role"))
        if name is not None
    ]
    named = [n for n in (runtime_role, owner_role, auditor_role, anchor_role) if n]
    if owner_role == runtime_role:
        raise InputError(
            f"The runtime role and the owner role are both {runtime_role!r}; the runtime role "
            "must not own the tables.",
            hint="Name two roles: --runtime-role riskops_runtime --owner-role riskops_owner",
        )
    if len(set(named)) != len(named):
        twice = sorted({n for n in named if named.count(n) > 1})
        raise InputError(
            f"The role {twice[0]!r} is named for two jobs; each role has one (runtime, owner, "
            "auditor, anchor).",
            hint="For example: --runtime-role riskops_runtime --owner-role riskops_owner "
            "--auditor-role riskops_auditor --anchor-role riskops_anchor",
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
        database, schema, schema_oid = connection.execute(
            text(
                "SELECT current_database(), current_schema(), "
                "(SELECT oid::bigint FROM pg_namespace WHERE nspname = current_schema())"
            )
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
    everything = ", ".join(qualified.values())
    append = f"{_quote(schema)}.{APPEND_FUNCTION}"
    statements = [
        f"-- riskops roles on {database}.{schema}. Run this script as a superuser, e.g.",
        "--   riskops db grants … | psql -v ON_ERROR_STOP=1 'postgresql://postgres@db/riskops'",
        "-- It sets riskops.migrating for its own session: changing owners and grants of the",
        "-- audit tables is refused otherwise, once the event trigger is installed.",
        f"SET {MIGRATING_FLAG} = 'on'",
    ]
    if owner is not None:
        statements += [
            f"-- {owner_role}: owns the tables and functions, never logs in. Migrations run as a",
            f"-- login that is a member of it (GRANT {owner} TO <migration login>) and connects",
            f"-- with ?options=-crole%3D{owner_role}, e.g. RISKOPS_DATABASE_URL=postgresql+psycopg:"
            f"//migrator@db/riskops?options=-crole%3D{owner_role} riskops db upgrade",
            *_create_role(str(owner_role), owner, login=False),
            f"GRANT USAGE, CREATE ON SCHEMA {_quote(schema)} TO {owner}",
            *(f"ALTER TABLE {qualified[name]} OWNER TO {owner}" for name in qualified),
            *(
                f"ALTER FUNCTION {_quote(schema)}.{function} OWNER TO {owner}"
                for function in OWNED_FUNCTIONS
            ),
        ]
    statements += [
        f"-- {runtime_role}: serving and the everyday CLI log in as it. Audit events are",
        f"-- appended only through {APPEND_FUNCTION.split('(')[0]}() (the server's time and",
        "-- hashes): no INSERT on audit_events, no UPDATE of audit_head.",
        *_create_role(runtime_role, runtime, login=True),
        f"-- Set its password with: ALTER ROLE {runtime} PASSWORD '…' (or use trust/cert auth)",
        f"REVOKE ALL ON TABLE {everything} FROM {runtime}",
        f"REVOKE CREATE ON SCHEMA {_quote(schema)} FROM {runtime}",
        f"REVOKE ALL ON FUNCTION {append} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_quote(database)} TO {runtime}",
        f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {runtime}",
        f"GRANT SELECT ON TABLE {qualified[VERSION_TABLE]} TO {runtime}",
    ]
    for name in tables:
        extra = () if name in READ_ONLY else ("INSERT", *UPDATES.get(name, ()))
        privileges = ", ".join(("SELECT", *extra))
        statements.append(f"GRANT {privileges} ON TABLE {qualified[name]} TO {runtime}")
    statements += [f"GRANT USAGE ON SEQUENCE {sequence} TO {runtime}" for sequence in sequences]
    statements.append(f"GRANT EXECUTE ON FUNCTION {append} TO {runtime}")
    for name, role in readers:
        statements += [
            f"-- {name}: reads everything, changes nothing (no EXECUTE on the append function).",
            *_create_role(name, role, login=True),
            f"REVOKE ALL ON TABLE {everything} FROM {role}",
            f"REVOKE CREATE ON SCHEMA {_quote(schema)} FROM {role}",
            f"GRANT CONNECT ON DATABASE {_quote(database)} TO {role}",
            f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {role}",
            f"GRANT SELECT ON TABLE {everything} TO {role}",
        ]
    ddl, drop = event_trigger_names(schema)
    statements += [
        f"-- The event triggers {ddl} and {drop} (function {guard_function(schema)}): only a",
        "-- superuser can create them. They refuse ALTER TABLE (DISABLE TRIGGER, RENAME, …),",
        "-- DROP TRIGGER, DROP TABLE and CREATE OR REPLACE of the guard functions on the audit",
        "-- tables, to every session but a superuser login that set riskops.migrating.",
        *event_trigger_statements(schema, schema_oid=int(schema_oid)),
        f"RESET {MIGRATING_FLAG}",
    ]
    return statements


def _create_role(name: str, quoted: str, *, login: bool) -> list[str]:
    can_login = "LOGIN" if login else "NOLOGIN"
    return [
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"'{name}') THEN CREATE ROLE {quoted} {can_login}; END IF; END $$",
        f"ALTER ROLE {quoted} {can_login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS",
    ]


def as_script(statements: list[str]) -> str:
    """The statements as a psql script: one per line, each SQL statement ending in ``;``."""
    return "\n".join(s if s.startswith("--") else s + ";" for s in statements) + "\n"
