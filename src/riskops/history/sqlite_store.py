"""The embedded online store: one SQLite file in the workspace (or in memory), no server.

One table holds every transaction; an index per entity (``customer``, ``terminal``) on
``(namespace, key, time)`` makes a window one index range scan. The connection is shared by
the server's threads behind a lock (a lookup takes tens of microseconds); the file is in WAL
mode so a backfill or a label run in another process does not block it for long.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from riskops.errors import BackendError
from riskops.history.definitions import Past
from riskops.history.store import Event

ENTITIES = ("customer", "terminal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_events (
    namespace TEXT NOT NULL,
    event_id TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    units INTEGER NOT NULL,
    customer TEXT,
    terminal TEXT,
    label INTEGER,
    PRIMARY KEY (namespace, event_id)
);
CREATE INDEX IF NOT EXISTS history_by_customer ON history_events (namespace, customer, time_us);
CREATE INDEX IF NOT EXISTS history_by_terminal ON history_events (namespace, terminal, time_us);
"""
_INSERT = (
    "INSERT OR IGNORE INTO history_events "
    "(namespace, event_id, time_us, units, customer, terminal, label) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# One query per entity column; the names are this module's constants, never input.
_WINDOW = {
    entity: (
        "SELECT time_us, units, coalesce(label, 0) FROM history_events "  # noqa: S608
        f"WHERE namespace = ? AND {entity} = ? AND time_us >= ? AND time_us < ?"
    )
    for entity in ENTITIES
}


class SqliteStore:
    """The online store in a SQLite file (``path``), or in this process's memory (None)."""

    def __init__(self, path: Path | None, *, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path),
                check_same_thread=False,
                isolation_level=None,
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendError(
                f"Cannot open the online history store {url}: {exc}",
                hint="Check RISKOPS_HISTORY_URL and that its folder is writable.",
            ) from None

    def append(self, namespace: str, event: Event) -> bool:
        with self._lock:
            cursor = self._db.execute(_INSERT, _row(namespace, event))
        return cursor.rowcount == 1

    def append_many(self, namespace: str, events: Iterable[Event]) -> int:
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_INSERT, (_row(namespace, e) for e in events))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def label(self, namespace: str, event_id: str, *, fraud: bool) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE history_events SET label = ? WHERE namespace = ? AND event_id = ?",
                (int(fraud), namespace, event_id),
            )
        return cursor.rowcount == 1

    def window(
        self, namespace: str, entity: str, key: str, since_us: int, until_us: int
    ) -> Sequence[Past]:
        return self.windows(namespace, [(entity, key, since_us, until_us)])[0]

    def windows(
        self, namespace: str, queries: Sequence[tuple[str, str, int, int]]
    ) -> list[Sequence[Past]]:
        found: list[Sequence[Past]] = []
        with self._lock:
            for entity, key, since_us, until_us in queries:
                if entity not in _WINDOW:
                    raise ValueError(f"unknown entity {entity!r}; entities: {ENTITIES}")
                found.append(
                    self._db.execute(
                        _WINDOW[entity], (namespace, key, since_us, until_us)
                    ).fetchall()
                )
        return found

    def clear(self, namespace: str) -> int:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM history_events WHERE namespace = ?", (namespace,)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(namespace: str, event: Event) -> tuple[object, ...]:
    label = None if event.label is None else int(event.label)
    keys = event.keys
    return (
        namespace,
        event.event_id,
        event.time_us,
        event.units,
        keys.get("customer"),
        keys.get("terminal"),
        label,
    )
