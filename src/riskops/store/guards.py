"""The PostgreSQL event trigger that keeps the audit tables' shape and guards, even against the
role that owns them.

Row triggers (migration 0008) refuse UPDATE, DELETE and TRUNCATE on the audit tables, but the
owner of a table can disable or drop a trigger, rename or drop the table, or replace a trigger
function. An event trigger runs for every role, the owner included, and only a superuser can
create, alter or drop one; so a superuser installs this one (``riskops db upgrade`` does when it
runs as a superuser, ``riskops db grants`` prints it otherwise). It refuses, for every session
except the break-glass one below:

* any ``ALTER TABLE`` of a guarded table (``DISABLE TRIGGER``, ``RENAME``, ``SET SCHEMA``,
  ``OWNER TO``, column changes), ``CREATE``/``ALTER TRIGGER`` and ``CREATE RULE`` on one;
* ``DROP TABLE`` of one, ``DROP TRIGGER`` on one (``ddl_command_end`` runs after the command,
  ``sql_drop`` sees every object a ``DROP … CASCADE`` removes);
* ``CREATE OR REPLACE``, ``ALTER`` and ``DROP`` of the guard functions and ``append_events``;
* ``ALTER SCHEMA`` (rename, owner) and ``DROP SCHEMA`` of the store's schema.

A guarded table is one that carries a trigger calling a guard function of the store's schema,
recognised by its oid, so a rename cannot hide it. A matching ``current_query()`` would not do:
``SET search_path`` and an unqualified table name get past it.

**Break-glass.** A session whose *login* (``session_user``) is a superuser and that set
``riskops.migrating`` to ``on`` passes: the migration environment sets it in every migration's
transaction, so a later release that alters these tables migrates when a superuser login runs
``riskops db upgrade`` (and is refused when the owner role runs it). The flag alone does
nothing for anyone else, and a superuser could switch the event trigger off anyway.

Example::

    for statement in event_trigger_statements("riskops", schema_oid=16384):
        connection.exec_driver_sql(statement)
"""

from __future__ import annotations

from sqlalchemy import Connection, text

MIGRATING_FLAG = "riskops.migrating"
GUARDED_TABLES = (
    "audit_events",
    "audit_head",
    "audit_tree",
    "audit_checkpoints",
    "decisions",
    "decision_batches",
    "finding_updates",
)
# The row-trigger functions (0001, 0008), the append function and the event trigger's own.
GUARD_SCHEMA = "riskops_guard"  # the superuser's: holds the event trigger functions
GUARD_FUNCTIONS = (
    "riskops_audit_append_only",
    "riskops_guard_refuse",
    "riskops_guard_audit_head",
    "riskops_guard_decision_batch",
    "append_events",
)
DDL_MESSAGE = "riskops guards the audit tables"


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a single-quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(quote_literal(v) for v in values) + "]::text[]"


def event_trigger_names(schema: str) -> tuple[str, str]:
    """The names of the two event triggers guarding ``schema`` (event triggers are per
    database, so each store schema has its own pair)."""
    return (f"riskops_ddl_{schema}"[:63], f"riskops_drop_{schema}"[:63])


def guard_function(schema: str) -> str:
    """The qualified name of the event trigger function guarding ``schema``. It lives in
    :data:`GUARD_SCHEMA`, not in the store's schema: the owner of a schema may drop it with
    everything in it, and dropping the function would drop the event triggers with it."""
    return f"{quote_ident(GUARD_SCHEMA)}.{quote_ident(('guard_' + schema)[:63])}()"


def event_trigger_statements(schema: str, *, schema_oid: int) -> list[str]:
    """The SQL (no ``;``) a superuser runs to install the event triggers guarding ``schema``;
    idempotent. ``schema_oid`` is ``pg_namespace.oid`` of ``schema``."""
    qualified = guard_function(schema)
    ddl, drop = event_trigger_names(schema)
    # One line per statement (the body has no comments and no literal with two spaces), so
    # a script of these splits at ";" + newline.
    # Concatenation, not RAISE's % placeholders: a driver running the script as it is (no
    # parameters) must not see a % in it.
    refuse = (
        f"RAISE EXCEPTION USING MESSAGE = {quote_literal(DDL_MESSAGE + ' in schema ')} "
        "|| guarded_name || ': ' || {tag} || ' of ' || command.object_identity "
        f"|| ' is refused', HINT = 'A superuser login migrates these with SET {MIGRATING_FLAG} "
        "= on';"
    )
    ddl_refusal = refuse.format(tag="command.command_tag")
    drop_refusal = refuse.format(tag="'DROP'")
    # Identifiers are quoted, literals escaped (quote_ident, quote_literal); nothing else varies.
    body = f"""
DECLARE
  guarded_schema constant oid := {int(schema_oid)};
  guarded_name constant text := {quote_literal(schema)};
  guarded_tables constant text[] := {_array(GUARDED_TABLES)};
  guard_functions constant text[] := {_array(GUARD_FUNCTIONS)};
  command record;
  relation oid;
BEGIN
  IF current_setting({quote_literal(MIGRATING_FLAG)}, true) = 'on'
     AND coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = session_user), false) THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'ddl_command_end' THEN
    FOR command IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
      relation := NULL;
      IF command.object_type IN ('table', 'table column') THEN
        relation := command.objid;
      ELSIF command.object_type = 'table constraint' THEN
        SELECT c.conrelid INTO relation FROM pg_constraint c WHERE c.oid = command.objid;
      ELSIF command.object_type = 'trigger' THEN
        SELECT t.tgrelid INTO relation FROM pg_trigger t WHERE t.oid = command.objid;
      ELSIF command.object_type = 'rule' THEN
        SELECT r.ev_class INTO relation FROM pg_rewrite r WHERE r.oid = command.objid;
      ELSIF command.object_type = 'function' THEN
        IF EXISTS (SELECT FROM pg_proc p WHERE p.oid = command.objid
                   AND p.pronamespace = guarded_schema AND p.proname = ANY (guard_functions)) THEN
          {ddl_refusal}
        END IF;
      ELSIF command.object_type = 'schema' AND command.objid = guarded_schema THEN
        {ddl_refusal}
      END IF;
      IF relation IS NOT NULL AND EXISTS (
          SELECT FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
          WHERE t.tgrelid = relation AND p.pronamespace = guarded_schema
            AND p.proname = ANY (guard_functions)) THEN
        {ddl_refusal}
      END IF;
    END LOOP;
  ELSIF TG_EVENT = 'sql_drop' THEN
    FOR command IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
      IF (command.object_type = 'schema' AND command.objid = guarded_schema)
         OR (command.object_type = 'table' AND command.schema_name = guarded_name
             AND command.object_name = ANY (guarded_tables))
         OR (command.object_type IN ('trigger', 'rule')
             AND command.address_names[1] = guarded_name
             AND command.address_names[2] = ANY (guarded_tables))
         OR (command.object_type = 'function' AND command.schema_name = guarded_name
             AND command.address_names[2] = ANY (guard_functions)) THEN
        {drop_refusal}
      END IF;
    END LOOP;
  END IF;
END
"""  # noqa: S608
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(GUARD_SCHEMA)}",
        f"REVOKE ALL ON SCHEMA {quote_ident(GUARD_SCHEMA)} FROM PUBLIC",
        f"DROP EVENT TRIGGER IF EXISTS {quote_ident(ddl)}",
        f"DROP EVENT TRIGGER IF EXISTS {quote_ident(drop)}",
        f"CREATE OR REPLACE FUNCTION {qualified} RETURNS event_trigger LANGUAGE plpgsql "
        f"SET search_path = pg_catalog, pg_temp AS $guard$ {' '.join(body.split())} $guard$",
        f"REVOKE ALL ON FUNCTION {qualified} FROM PUBLIC",
        f"CREATE EVENT TRIGGER {quote_ident(ddl)} ON ddl_command_end EXECUTE FUNCTION {qualified}",
        f"CREATE EVENT TRIGGER {quote_ident(drop)} ON sql_drop EXECUTE FUNCTION {qualified}",
    ]


def removal_statements(schema: str) -> list[str]:
    """The SQL (no ``;``) a superuser runs to remove the event triggers guarding ``schema``,
    after dropping the schema (with :data:`MIGRATING_FLAG` set) when a store is retired."""
    ddl, drop = event_trigger_names(schema)
    return [
        f"DROP EVENT TRIGGER IF EXISTS {quote_ident(ddl)}",
        f"DROP EVENT TRIGGER IF EXISTS {quote_ident(drop)}",
        f"DROP FUNCTION IF EXISTS {guard_function(schema)}",
    ]


def is_superuser(connection: Connection) -> bool:
    """Whether the connection's current role is a superuser (who may create event triggers)."""
    return bool(
        connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
    )


def schema_oid(connection: Connection) -> tuple[str, int]:
    """The connection's current schema and its oid."""
    name, oid = connection.execute(
        text("SELECT nspname, oid::bigint FROM pg_namespace WHERE nspname = current_schema()")
    ).one()
    return str(name), int(oid)
