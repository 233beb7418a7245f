"""The store's schema revision: whether it is current, and bringing it there.

Migrations are an explicit step, run by the role that owns the tables: ``riskops db upgrade``
(a Job in Kubernetes) and ``riskops init``. Other processes only look:

==========================  ===================================================================
who                         what happens to the schema
==========================  ===================================================================
``riskops db upgrade``      migrated to the newest revision (any backend)
``riskops init``            migrated (creates the embedded SQLite store)
other CLI commands          embedded SQLite: migrated; PostgreSQL: checked, refused if behind
``riskops serve``           checked, refused if behind (never migrated: it may run as a role
                            that cannot); a store that does not answer at start is checked
                            when it does
==========================  ===================================================================

Example::

    state = schema_state(store)
    state.current, state.head, state.up_to_date
    require_current(store)   # ConflictError naming `riskops db upgrade` when behind
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from riskops.errors import BackendError, ConflictError
from riskops.store.database import MIGRATIONS_DIR, Store

UPGRADE = "riskops db upgrade"


@dataclass(frozen=True)
class SchemaState:
    """The revision the store is at (None: no schema yet) and the newest one this code has."""

    current: str | None
    head: str
    known: bool  # the store's revision is one of this code's migrations

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.up_to_date:
            return f"schema current (revision {self.head})"
        if self.current is None:
            return f"no schema yet (newest revision {self.head})"
        if not self.known:
            return (
                f"schema at revision {self.current}, which this riskops does not know (newer "
                f"than its {self.head})"
            )
        return f"schema behind: revision {self.current}, newest {self.head}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "head": self.head,
            "up_to_date": self.up_to_date,
            "detail": self.describe(),
        }


def _script() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def schema_state(store: Store) -> SchemaState:
    """Read the store's revision (BackendError if the store does not answer)."""
    from alembic.runtime.migration import MigrationContext

    script = _script()
    head = str(script.get_current_head())
    try:
        with store.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise BackendError(
            f"The riskops database did not answer: {exc.orig}",
            hint="Check RISKOPS_DATABASE_URL and that the database server runs: riskops doctor",
        ) from exc
    known = current is None or any(r.revision == current for r in script.walk_revisions())
    return SchemaState(current=current, head=head, known=known)


def upgrade(store: Store) -> tuple[SchemaState, SchemaState]:
    """Migrate the store to the newest revision; its state before and after."""
    before = schema_state(store)
    if not before.known:
        raise ConflictError(
            f"Cannot migrate the riskops store: {before.describe()}.",
            hint="Upgrade riskops to the version that made this schema, then run: " + UPGRADE,
        )
    store.migrate()
    return before, schema_state(store)


def require_current(store: Store) -> None:
    """Refuse a store whose schema is not this code's newest revision."""
    state = schema_state(store)
    if state.up_to_date:
        return
    if not state.known:
        raise ConflictError(
            f"The riskops store is not one this riskops can use: {state.describe()}.",
            hint="Run the riskops version that migrated it (or a newer one).",
        )
    raise ConflictError(
        f"The riskops store is not current: {state.describe()}. Migrate it before this "
        "process uses it.",
        hint=f"As the role that owns the tables, run: {UPGRADE}",
    )


def ensure_schema(store: Store, *, migrate: bool) -> None:
    """Migrate the store (``migrate``) or require its schema to be current."""
    if migrate:
        store.migrate()
    else:
        require_current(store)
