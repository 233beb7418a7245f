"""Append-only audit tables on both backends, and the server-side append on PostgreSQL.

Refusing triggers (SQLite and PostgreSQL):

=================  =========================================================================
table              refused
=================  =========================================================================
audit_head         DELETE, TRUNCATE; an UPDATE that does not move it to the newest stored
                   event exactly (its seq and hash), or moves it backwards
decisions          UPDATE, DELETE, TRUNCATE
decision_batches   DELETE, TRUNCATE; an UPDATE other than setting ``audit_seq`` once, from 0
audit_tree         UPDATE, DELETE, TRUNCATE
audit_checkpoints  UPDATE, DELETE, TRUNCATE
=================  =========================================================================

(``audit_events`` has refused UPDATE, DELETE and TRUNCATE since 0001.)

On PostgreSQL, ``append_events(actors, roles, actions, object_types, object_ids, payloads)``:
a SECURITY DEFINER function (run with its owner's rights) that locks the head, assigns the
sequence numbers, stamps the server's time and computes the hashes exactly as
:func:`riskops.audit.chain.event_hash` does, so that the runtime role needs no INSERT on
``audit_events`` nor UPDATE on ``audit_head`` and cannot append a backdated or forged event.
When the migration runs as a superuser it also installs the event trigger of
:mod:`riskops.store.guards`; otherwise ``riskops db grants`` prints it for one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from alembic import op
from sqlalchemy import text

from riskops.store.guards import (
    event_trigger_statements,
    is_superuser,
    quote_ident,
    quote_literal,
    removal_statements,
    schema_oid,
)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = "{table} is append-only: UPDATE, DELETE and TRUNCATE are refused"
KEPT = "{table} rows are kept: DELETE and TRUNCATE are refused"
HEAD_MOVE = (
    "audit_head may only move forward to the newest stored event, with that event's seq and hash"
)
BATCH_SEAL = (
    "decision_batches rows are sealed: only audit_seq may change, once, from 0 to the "
    "sequence number of the batch's audit event"
)
GENESIS = "0" * 64
BATCH_COLUMNS = ("id", "merkle_root", "count", "first_decided_at", "last_decided_at", "created_at")
APPEND_ARGS = "text[], text[], text[], text[], text[], text[]"

# (table, refused statements, message) for the plain refusals.
REFUSALS = (
    ("decisions", ("UPDATE", "DELETE", "TRUNCATE"), APPEND_ONLY.format(table="decisions")),
    ("audit_tree", ("UPDATE", "DELETE", "TRUNCATE"), APPEND_ONLY.format(table="audit_tree")),
    (
        "audit_checkpoints",
        ("UPDATE", "DELETE", "TRUNCATE"),
        APPEND_ONLY.format(table="audit_checkpoints"),
    ),
    ("audit_head", ("DELETE", "TRUNCATE"), KEPT.format(table="audit_head")),
    ("decision_batches", ("DELETE", "TRUNCATE"), KEPT.format(table="decision_batches")),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgresql_upgrade()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, verbs, _ in REFUSALS:
            for verb in verbs:
                if verb != "TRUNCATE":
                    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}")
        op.execute("DROP TRIGGER IF EXISTS audit_head_moves_to_newest")
        op.execute("DROP TRIGGER IF EXISTS decision_batches_sealed_once")
        return
    if dialect != "postgresql":
        return
    connection = op.get_bind()
    schema, _ = schema_oid(connection)
    if is_superuser(connection):
        for statement in removal_statements(schema):
            connection.execute(text(statement))
    op.execute(f"DROP FUNCTION IF EXISTS append_events({APPEND_ARGS})")
    for table, verbs, _ in REFUSALS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_refuse ON {table}")
        if "TRUNCATE" in verbs:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute("DROP TRIGGER IF EXISTS audit_head_moves_to_newest ON audit_head")
    op.execute("DROP TRIGGER IF EXISTS decision_batches_sealed_once ON decision_batches")
    for function in ("riskops_guard_refuse", "riskops_guard_audit_head"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.execute("DROP FUNCTION IF EXISTS riskops_guard_decision_batch()")


# -- SQLite ------------------------------------------------------------------------------------


def _sqlite_upgrade() -> None:
    # SQLite has no TRUNCATE: an unqualified DELETE is one, and the DELETE trigger refuses it.
    for table, verbs, message in REFUSALS:
        for verb in verbs:
            if verb == "TRUNCATE":
                continue
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, {quote_literal(message)}); END"
            )
    op.execute(
        "CREATE TRIGGER audit_head_moves_to_newest BEFORE UPDATE ON audit_head "  # noqa: S608
        "WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq "
        "OR NEW.seq IS NOT (SELECT coalesce(max(seq), 0) FROM audit_events) "
        "OR NEW.hash IS NOT coalesce((SELECT hash FROM audit_events WHERE seq = NEW.seq), "
        f"'{GENESIS}') "
        f"BEGIN SELECT RAISE(ABORT, {quote_literal(HEAD_MOVE)}); END"
    )
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in BATCH_COLUMNS)
    op.execute(
        "CREATE TRIGGER decision_batches_sealed_once BEFORE UPDATE ON decision_batches "
        "WHEN OLD.audit_seq IS NOT 0 OR NEW.audit_seq IS NULL OR NEW.audit_seq <= 0 "
        f"OR {changed} "
        f"BEGIN SELECT RAISE(ABORT, {quote_literal(BATCH_SEAL)}); END"
    )


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgresql_upgrade() -> None:
    connection = op.get_bind()
    schema, oid = schema_oid(connection)
    path = f"pg_catalog, {quote_ident(schema)}, pg_temp"
    # The functions resolve table names in the store's schema only: a temporary table of the
    # same name (pg_temp is searched first unless named) cannot stand in for a real one.
    op.execute(
        "CREATE FUNCTION riskops_guard_refuse() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path = {path} AS $$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = TG_ARGV[0]; END $$"
    )
    op.execute(
        "CREATE FUNCTION riskops_guard_audit_head() RETURNS trigger LANGUAGE plpgsql "  # noqa: S608
        f"SET search_path = {path} AS $$\n"
        "DECLARE newest_seq integer; newest_hash text;\n"
        "BEGIN\n"
        "  SELECT e.seq, e.hash INTO newest_seq, newest_hash FROM audit_events e\n"
        "    ORDER BY e.seq DESC LIMIT 1;\n"
        f"  IF NOT FOUND THEN newest_seq := 0; newest_hash := '{GENESIS}'; END IF;\n"
        "  IF NEW.id = OLD.id AND NEW.seq >= OLD.seq AND NEW.seq = newest_seq\n"
        "     AND NEW.hash = newest_hash THEN\n"
        "    RETURN NEW;\n"
        "  END IF;\n"
        f"  RAISE EXCEPTION {quote_literal(HEAD_MOVE)};\n"
        "END $$"
    )
    op.execute(
        "CREATE FUNCTION riskops_guard_decision_batch() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path = {path} AS $$\n"
        "BEGIN\n"
        "  IF OLD.audit_seq = 0 AND NEW.audit_seq > 0\n"
        "     AND (to_jsonb(NEW) - 'audit_seq') = (to_jsonb(OLD) - 'audit_seq') THEN\n"
        "    RETURN NEW;\n"
        "  END IF;\n"
        f"  RAISE EXCEPTION {quote_literal(BATCH_SEAL)};\n"
        "END $$"
    )
    for table, verbs, message in REFUSALS:
        rows = [v for v in verbs if v != "TRUNCATE"]
        op.execute(
            f"CREATE TRIGGER {table}_refuse BEFORE {' OR '.join(rows)} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION riskops_guard_refuse({quote_literal(message)})"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION riskops_guard_refuse({quote_literal(message)})"
        )
    op.execute(
        "CREATE TRIGGER audit_head_moves_to_newest BEFORE UPDATE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION riskops_guard_audit_head()"
    )
    op.execute(
        "CREATE TRIGGER decision_batches_sealed_once BEFORE UPDATE ON decision_batches "
        "FOR EACH ROW EXECUTE FUNCTION riskops_guard_decision_batch()"
    )
    op.execute(_append_events(path))
    for function in (
        f"append_events({APPEND_ARGS})",
        "riskops_guard_refuse()",
        "riskops_guard_audit_head()",
        "riskops_guard_decision_batch()",
        "riskops_audit_append_only()",
    ):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    if is_superuser(connection):
        for statement in event_trigger_statements(schema, schema_oid=oid):
            connection.execute(text(statement))


def _append_events(path: str) -> str:
    """The append function. The record hashed is ``riskops.audit.chain``'s canonical JSON,
    built by hand in the same key order; ``to_json(text)`` escapes a string exactly as
    Python's ``json.dumps(ensure_ascii=False)`` does (a property test holds it)."""
    return (
        "CREATE FUNCTION append_events(actors text[], roles text[], actions text[], "  # noqa: S608
        "object_types text[], object_ids text[], payloads text[]) "
        "RETURNS SETOF audit_events LANGUAGE plpgsql SECURITY DEFINER "
        f"SET search_path = {path} AS $$\n"
        "DECLARE\n"
        "  n integer := coalesce(cardinality(actors), 0);\n"
        "  first_seq integer; head_seq integer; head_hash text; stamp text; previous text;\n"
        "  seqs integer[]; prevs text[]; hashes text[];\n"
        "BEGIN\n"
        "  IF n = 0 THEN RETURN; END IF;\n"
        "  IF coalesce(cardinality(roles), 0) <> n OR coalesce(cardinality(actions), 0) <> n\n"
        "     OR coalesce(cardinality(object_types), 0) <> n\n"
        "     OR coalesce(cardinality(object_ids), 0) <> n\n"
        "     OR coalesce(cardinality(payloads), 0) <> n THEN\n"
        "    RAISE EXCEPTION 'append_events takes six arrays of the same length';\n"
        "  END IF;\n"
        "  SELECT h.seq, h.hash INTO head_seq, head_hash FROM audit_head h WHERE h.id = 1\n"
        "    FOR UPDATE;\n"
        "  IF NOT FOUND THEN RAISE EXCEPTION 'audit_head has no row: the chain has no head';\n"
        "  END IF;\n"
        "  first_seq := head_seq + 1;\n"
        "  stamp := to_char(clock_timestamp() AT TIME ZONE 'UTC',\n"
        '                   \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\');\n'
        "  SELECT e.occurred_at INTO previous FROM audit_events e WHERE e.seq = head_seq;\n"
        "  IF previous > stamp THEN stamp := previous; END IF;  -- time never runs backwards\n"
        "  FOR i IN 1..n LOOP\n"
        "    prevs[i] := head_hash;\n"
        "    head_seq := head_seq + 1;\n"
        "    seqs[i] := head_seq;\n"
        "    head_hash := encode(sha256(convert_to(\n"
        "      '{\"action\":' || to_json(actions[i])::text\n"
        "      || ',\"actor\":' || to_json(actors[i])::text\n"
        "      || ',\"object_id\":' || to_json(object_ids[i])::text\n"
        "      || ',\"object_type\":' || to_json(object_types[i])::text\n"
        "      || ',\"occurred_at\":' || to_json(stamp)::text\n"
        '      || \',"payload_sha256":"\'\n'
        "      || encode(sha256(convert_to(payloads[i], 'UTF8')), 'hex')\n"
        '      || \'","prev_hash":\' || to_json(prevs[i])::text\n'
        "      || ',\"role\":' || to_json(roles[i])::text\n"
        "      || ',\"seq\":' || head_seq::text || '}', 'UTF8')), 'hex');\n"
        "    hashes[i] := head_hash;\n"
        "  END LOOP;\n"
        "  INSERT INTO audit_events (seq, occurred_at, actor, role, action, object_type,\n"
        "                            object_id, payload, prev_hash, hash)\n"
        "    SELECT u.seq, stamp, u.actor, u.role, u.action, u.object_type, u.object_id,\n"
        "           u.payload, u.prev_hash, u.hash\n"
        "    FROM unnest(seqs, actors, roles, actions, object_types, object_ids, payloads,\n"
        "                prevs, hashes)\n"
        "      AS u(seq, actor, role, action, object_type, object_id, payload, prev_hash, hash);\n"
        "  UPDATE audit_head SET seq = head_seq, hash = head_hash WHERE id = 1;\n"
        "  RETURN QUERY SELECT e.* FROM audit_events e WHERE e.seq >= first_seq ORDER BY e.seq;\n"
        "END $$"
    )
