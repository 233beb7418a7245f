"""The append-only audit store on PostgreSQL, against the runtime role and the table owner:
the runtime role appends only through ``append_events()`` (server time, server hashes) and is
refused INSERT and head moves; the owner is refused DDL on the audit tables by the event
trigger; ``to_json(text)`` escapes exactly as the chain's Python hashing does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from riskops.audit import verify
from riskops.audit.chain import event_hash
from riskops.audit.trail import Entry, record_many
from riskops.store import Store, open_store
from riskops.store.grants import as_script, runtime_grants
from riskops.store.guards import MIGRATING_FLAG
from tests.conftest import admin_engine, drop_store_schema

pytestmark = pytest.mark.integration

# PostgreSQL text holds no NUL and no lone surrogate; everything else Unicode has is drawn.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@dataclass(frozen=True)
class Store3:
    """One store schema with its owner (NOLOGIN), the migration login that acts as it, and the
    runtime and auditor roles made by the script ``riskops db grants`` prints, run by a
    superuser."""

    schema: str
    owner: str
    runtime: str
    auditor: str
    admin_url: str  # the superuser login, search_path on the schema
    migrate_url: str  # the (non-superuser) migration login acting as the owner role
    runtime_url: str
    auditor_url: str


def _url(base: str, user: str, schema: str, role: str | None = None) -> str:
    parsed = make_url(base).set(username=user, password=None)
    options = f"-csearch_path={schema}" + (f" -crole={role}" if role else "")
    return parsed.set(query={**parsed.query, "options": options}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Store3]:
    suffix = uuid.uuid4().hex[:10]
    schema, owner = f"ao_{suffix}", f"ao_owner_{suffix}"
    runtime, auditor = f"ao_rt_{suffix}", f"ao_aud_{suffix}"
    migrator = f"ao_mig_{suffix}"
    superuser = make_url(postgres_url).username or "postgres"
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{owner}" NOLOGIN'))
        connection.execute(text(f'CREATE ROLE "{migrator}" LOGIN IN ROLE "{owner}"'))
        connection.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner}"'))
    made = Store3(
        schema,
        owner,
        runtime,
        auditor,
        _url(postgres_url, superuser, schema),
        _url(postgres_url, migrator, schema, role=owner),
        _url(postgres_url, runtime, schema),
        _url(postgres_url, auditor, schema),
    )
    try:
        store = open_store(made.migrate_url)  # migrates as the owner role: no event trigger
        try:
            script = as_script(
                runtime_grants(store, runtime, owner_role=owner, auditor_role=auditor)
            )
        finally:
            store.dispose()
        with admin_engine(made.admin_url).connect() as connection:  # the superuser runs it
            for statement in script.split(";\n"):
                lines = [line for line in statement.splitlines() if not line.startswith("--")]
                if "\n".join(lines).strip():
                    connection.exec_driver_sql("\n".join(lines))
        yield made
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename IN "
                    "(:a, :b, :c) AND pid <> pg_backend_pid()"
                ),
                {"a": runtime, "b": auditor, "c": migrator},
            )
            drop_store_schema(connection, schema)
            for role in (runtime, auditor, migrator, owner):
                if connection.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).scalar():
                    connection.execute(text(f'DROP OWNED BY "{role}"'))
                    connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def _engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _entries(n: int, actor: str = "rita") -> list[Entry]:
    return [
        Entry(actor, "risk_officer", "version.approved", "model_version", f"m@{i}", {"i": i})
        for i in range(n)
    ]


def test_the_runtime_role_appends_only_through_the_function(roles: Store3) -> None:
    store = open_store(roles.runtime_url, migrate=False)
    try:
        backdated = datetime(2001, 1, 1, tzinfo=UTC)
        before = datetime.now(UTC)
        with store.transaction() as session:
            events = record_many(session, _entries(3), at=backdated)
        with store.transaction() as session:
            events += record_many(session, _entries(2, actor="oscar"), at=backdated)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        stamped = [datetime.fromisoformat(e.occurred_at) for e in events]
        assert all(t >= before.replace(microsecond=0) for t in stamped)  # the server's clock
        assert stamped == sorted(stamped)
        for event in events:  # the server's hashes are the chain's
            fields = {k: getattr(event, k) for k in ("seq", "occurred_at", "actor", "role")}
            fields |= {k: getattr(event, k) for k in ("action", "object_type", "object_id")}
            fields |= {"payload": event.payload, "prev_hash": event.prev_hash}
            assert event.hash == event_hash(**fields)
        report = verify(store)
        assert report.ok, report.reason
        assert report.events == 5
    finally:
        store.dispose()
    runtime = _engine(roles.runtime_url)
    try:
        with runtime.connect() as connection:
            for statement in (
                "INSERT INTO audit_events VALUES (6, '2001-01-01T00:00:00.000000Z', 'm', 'r', "
                "'a', 't', 'o', '{}', 'x', 'y')",
                "UPDATE audit_head SET seq = 6",
                "INSERT INTO audit_head VALUES (2, 0, 'x')",
                "DELETE FROM audit_head",
                "DELETE FROM decisions",
                "UPDATE audit_checkpoints SET note = ''",
                "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            ):
                with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
                    connection.execute(text(statement))
    finally:
        runtime.dispose()


def test_the_auditor_reads_and_cannot_append(roles: Store3) -> None:
    with open_store(roles.runtime_url, migrate=False).transaction() as session:
        record_many(session, _entries(2), at=datetime.now(UTC))
    auditor = open_store(roles.auditor_url, migrate=False)
    try:
        assert verify(auditor).ok
        with (
            pytest.raises(DBAPIError, match=r"permission denied for function append_events"),
            auditor.transaction() as session,
        ):
            record_many(session, _entries(1), at=datetime.now(UTC))
    finally:
        auditor.dispose()


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("ALTER TABLE audit_events DISABLE TRIGGER ALL", "ALTER TABLE of .*audit_events"),
        ("ALTER TABLE audit_head DISABLE TRIGGER audit_head_refuse", "ALTER TABLE"),
        ("DROP TRIGGER audit_events_append_only ON audit_events", "DROP of audit_events_append"),
        ("DROP TRIGGER decisions_refuse ON decisions", "DROP of decisions_refuse"),
        ("ALTER TABLE decisions RENAME TO decisions_old", "ALTER TABLE of .*decisions_old"),
        ("ALTER TABLE audit_tree RENAME COLUMN hash TO h", "ALTER TABLE of .*audit_tree"),
        ("ALTER TABLE audit_events ALTER COLUMN actor TYPE text", "ALTER TABLE"),
        ("ALTER TABLE audit_head ADD CONSTRAINT c CHECK (seq >= 0)", "ALTER TABLE"),
        ("DROP TABLE audit_checkpoints", "DROP of .*audit_checkpoints"),
        ("DROP TABLE decisions CASCADE", "DROP of .*decisions"),
        (
            "CREATE OR REPLACE FUNCTION riskops_guard_refuse() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            "CREATE FUNCTION of .*riskops_guard_refuse",
        ),
        (
            "DROP FUNCTION append_events(text[], text[], text[], text[], text[], text[]) CASCADE",
            "DROP of .*append_events",
        ),
        ("ALTER TRIGGER decision_batches_refuse ON decision_batches RENAME TO x", "ALTER TRIGGER"),
        (
            "CREATE TRIGGER sneaky BEFORE INSERT ON audit_events FOR EACH ROW "
            "EXECUTE FUNCTION riskops_guard_refuse('x')",
            "CREATE TRIGGER",
        ),
        ("DROP SCHEMA {schema} CASCADE", "DROP of"),
    ],
)
def test_the_owner_is_refused_ddl_on_the_audit_tables(
    roles: Store3, statement: str, refused: str
) -> None:
    guards = _triggers(roles)
    assert guards >= 14  # the refusing triggers of every guarded table, enabled
    owner = _engine(roles.migrate_url)
    try:
        with owner.connect() as connection:
            assert connection.execute(text("SELECT current_user")).scalar() == roles.owner
            for flag in ("off", "on"):  # the break-glass flag does nothing for the owner role
                connection.execute(text(f"SET {MIGRATING_FLAG} = '{flag}'"))
                with pytest.raises(ProgrammingError, match=f"guards the audit tables.*{refused}"):
                    connection.execute(text(statement.format(schema=roles.schema)))
    finally:
        owner.dispose()
    assert _triggers(roles) == guards  # every guard still there, enabled


def _triggers(roles: Store3) -> int:
    with _engine(roles.admin_url).connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE c.relnamespace = CAST(:s AS regnamespace) AND NOT t.tgisinternal "
                    "AND t.tgenabled = 'O'"
                ),
                {"s": roles.schema},
            ).scalar()
            or 0
        )


def test_a_superuser_migration_login_with_the_flag_may_alter_the_tables(roles: Store3) -> None:
    admin = _engine(roles.admin_url)
    try:
        with (
            admin.connect() as connection,
            pytest.raises(ProgrammingError, match="guards the audit tables"),
        ):
            connection.execute(text("ALTER TABLE audit_checkpoints ADD COLUMN extra text"))
        with admin.connect() as connection:
            connection.execute(text(f"SET {MIGRATING_FLAG} = 'on'"))
            connection.execute(text("ALTER TABLE audit_checkpoints ADD COLUMN extra text"))
            connection.execute(text(f"RESET {MIGRATING_FLAG}"))
    finally:
        admin.dispose()


def test_a_superuser_migration_installs_the_event_trigger(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)  # the tests' login is a superuser
    try:
        with (
            store.engine.connect() as connection,
            pytest.raises(ProgrammingError, match=r"DROP of .*audit_head_refuse"),
        ):
            connection.execute(text("DROP TRIGGER audit_head_refuse ON audit_head"))
    finally:
        store.dispose()


# -- to_json(text) is Python's json.dumps(ensure_ascii=False) ------------------------------------


@pytest.fixture(scope="module")
def server(postgres_url: str) -> Iterator[Engine]:
    engine = admin_engine(postgres_url)
    yield engine
    engine.dispose()


@settings(max_examples=400, deadline=None)
@given(value=TEXT)
def test_to_json_escapes_text_as_python_does(server: Engine, value: str) -> None:
    with server.connect() as connection:
        escaped = connection.execute(
            text("SELECT to_json(CAST(:v AS text))::text"), {"v": value}
        ).scalar()
    assert escaped == json.dumps(value, ensure_ascii=False)


def test_to_json_escapes_every_control_character_quote_and_backslash(server: Engine) -> None:
    value = "".join(chr(c) for c in range(1, 0x20)) + '"\\/\x7f\u2028\u2029\ufeff\U0001f600'
    with server.connect() as connection:
        escaped = connection.execute(
            text("SELECT to_json(CAST(:v AS text))::text"), {"v": value}
        ).scalar()
    assert escaped == json.dumps(value, ensure_ascii=False)


@settings(max_examples=60, deadline=None)
@given(fields=st.lists(st.tuples(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT), min_size=1, max_size=5))
def test_append_events_hashes_any_text_as_the_chain_does(
    appending: Store, fields: list[tuple[str, ...]]
) -> None:
    entries = [Entry(a, r, ac, ot, oi, {"v": p}) for a, r, ac, ot, oi, p in fields]
    with appending.transaction() as session:
        events = record_many(session, entries, at=datetime.now(UTC))
    for event, entry in zip(events, entries, strict=True):
        assert (event.actor, event.object_id) == (entry.actor, entry.object_id)
        fields_of = {k: getattr(event, k) for k in ("seq", "occurred_at", "actor", "role")}
        fields_of |= {k: getattr(event, k) for k in ("action", "object_type", "object_id")}
        fields_of |= {"payload": event.payload, "prev_hash": event.prev_hash}
        assert event.hash == event_hash(**fields_of)


@pytest.fixture(scope="module")
def appending(postgres_url: str) -> Iterator[Store]:
    schema = f"ao_hash_{uuid.uuid4().hex[:10]}"
    admin = admin_engine(postgres_url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = open_store(_url(postgres_url, make_url(postgres_url).username or "postgres", schema))
    try:
        yield store
        assert verify(store).ok
    finally:
        store.dispose()
        with admin.connect() as connection:
            drop_store_schema(connection, schema)
        admin.dispose()
