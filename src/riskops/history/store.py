"""The online store of past transactions: the port, and opening a backend from its URL.

A store keeps, per namespace (a model's name), each transaction once: its id, time, amount in
units, its entity keys, and its label once one is recorded. It answers one question fast: the
past transactions of one entity key in a time range. Features are never stored: they are
computed at decision time from these events by the spec's definitions
(:meth:`riskops.history.definitions.HistoryDefinitions.compute`), so a version whose
definitions change needs no re-materialisation, and online values equal offline ones.

Backends, chosen by URL (``RISKOPS_HISTORY_URL``):

==============================  ==========================================================
``sqlite:///path/history.db``   a SQLite file (the default: ``$RISKOPS_HOME/history.sqlite``)
``sqlite://`` or ``memory://``  in-process, gone when the process ends (tests, benchmarks)
``redis://host:6379/0``         Redis (``pip install 'riskops[history]'``); ``?prefix=NAME``
                                sets the key prefix (default ``riskops:history``)
==============================  ==========================================================

Example::

    store = open_online_store("sqlite:///.riskops/history.sqlite")
    store.append("transaction-risk", Event("tx-1", time_us, 5716, {"customer": "596"}))
    store.label("transaction-risk", "tx-1", fraud=False)
    store.window("transaction-risk", "customer", "596", since_us, until_us)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from riskops.errors import ConfigError
from riskops.history.definitions import Past

SCHEMES = ("sqlite", "memory", "redis", "rediss")


@dataclass(frozen=True)
class Event:
    """One transaction as the store keeps it; ``label`` is None until one is recorded."""

    event_id: str
    time_us: int
    units: int
    keys: Mapping[str, str] = field(default_factory=dict)  # entity → key
    label: bool | None = None


class OnlineStore(Protocol):
    """What serving, backfill and labelling need of a store. Every backend passes the same
    contract tests (tests/unit/history/test_store.py)."""

    url: str

    def append(self, namespace: str, event: Event) -> bool:
        """Keep ``event``; False (and nothing changed) if its id is already kept."""
        ...

    def append_many(self, namespace: str, events: Iterable[Event]) -> int:
        """Keep each event not kept yet; how many were new."""
        ...

    def label(self, namespace: str, event_id: str, *, fraud: bool) -> bool:
        """Record the label of ``event_id``; False if no such event is kept."""
        ...

    def window(
        self, namespace: str, entity: str, key: str, since_us: int, until_us: int
    ) -> Sequence[Past]:
        """The transactions of ``entity`` ``key`` with ``since_us <= time < until_us``."""
        ...

    def windows(
        self, namespace: str, queries: Sequence[tuple[str, str, int, int]]
    ) -> list[Sequence[Past]]:
        """:meth:`window` for several ``(entity, key, since_us, until_us)`` at once (one round
        trip where the backend allows it)."""
        ...

    def clear(self, namespace: str) -> int:
        """Forget every event of ``namespace``; how many there were."""
        ...

    def close(self) -> None: ...


def open_online_store(url: str) -> OnlineStore:
    """The store at ``url`` (see the module docstring); ConfigError naming the valid schemes
    for any other, MissingExtraError when Redis is asked for without its client."""
    scheme = urlsplit(url).scheme
    if scheme in ("sqlite", "memory"):
        from riskops.history.sqlite_store import SqliteStore

        path = url.split("://", 1)[1]
        if scheme == "memory" or path in ("", "/", "/:memory:"):
            return SqliteStore(None, url=url)
        return SqliteStore(Path(path[1:] if path.startswith("/") else path), url=url)
    if scheme in ("redis", "rediss"):
        from riskops.history.redis_store import RedisStore

        return RedisStore.from_url(url)
    raise ConfigError(
        f"RISKOPS_HISTORY_URL {url!r} names no known online store. Valid schemes are: "
        f"{', '.join(SCHEMES)}.",
        hint="For example sqlite:///.riskops/history.sqlite, memory://, or "
        "redis://127.0.0.1:6379/0",
    )


def default_url(home: Path) -> str:
    """The embedded default: a SQLite file in the workspace."""
    return f"sqlite:///{home / 'history.sqlite'}"
