"""Where the scoring service puts each decision: the port the service writes through, and the
one adapter onto the durable decision log (:mod:`riskops.decisions.log`).

The service calls :meth:`DecisionSink.append` (or awaits :meth:`DecisionSink.append_async`)
before it answers, and it returns only once the entry is durable (fsync'd in the log's
write-ahead file); concurrent requests share a group commit. A batch request's decisions go
through :meth:`DecisionSink.append_many`: one atomic group, one fsync.

**One WAL folder per process: slots.** Several server processes on one machine (``riskops serve
--workers N``, or several servers with one ``RISKOPS_WAL_DIR``) each need a folder of their own.
:func:`claim_decision_log` gives each the first free slot ``worker-0``, ``worker-1``… of the
environment's WAL folder: free means nobody holds the slot's ``LOCK`` (an exclusive ``flock``
that its writer holds for its life, :mod:`riskops.decisions.wal`). A worker that dies releases
its lock with its life, so the worker started in its place claims that slot again and replays
what its predecessor left unflushed. The lowest free slot is taken, so N workers use slots
0…N-1.

Example::

    sink = claim_decision_log(ctx, wal_path, bind_secrets(ctx.settings, ctx.store))
    sink.append(LoggedDecision.from_decision(decision, decision_id=..., route="champion", ...))
    sink.read(decision_id, reader)   # the decision with its reasons, if the reader may see it
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from riskops.decisions.access import Reader, read_decision, visible
from riskops.decisions.flusher import FlusherMode
from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision, StoredDecision
from riskops.errors import ConflictError
from riskops.privacy.secrets import WorkspaceSecrets

if TYPE_CHECKING:  # the context brings the MLflow registry, which the hot path never imports
    from riskops.context import Context

log = logging.getLogger(__name__)

MAX_SLOTS = 256  # WAL slots per environment folder: far more than the cores of one machine


class DecisionSink(Protocol):
    """What the service needs of a decision log."""

    def append(self, entry: LoggedDecision) -> None: ...

    async def append_async(self, entry: LoggedDecision) -> None: ...

    def append_many(self, entries: Sequence[LoggedDecision]) -> None: ...

    def read(self, decision_id: str, reader: Reader) -> dict[str, Any] | None: ...

    def pending(self, decision_id: str, reader: Reader) -> dict[str, Any] | None: ...

    def backlog(self) -> int: ...

    def check(self) -> None: ...

    def on_flusher_restart(self, callback: Callable[[], None]) -> None: ...

    def close(self) -> None: ...


class DurableDecisions:
    """:class:`DecisionSink` over :class:`riskops.decisions.log.DecisionLog`."""

    def __init__(self, log: DecisionLog) -> None:
        self._log = log

    def append(self, entry: LoggedDecision) -> None:
        self._log.append(entry)

    async def append_async(self, entry: LoggedDecision) -> None:
        await self._log.append_async(entry)

    def append_many(self, entries: Sequence[LoggedDecision]) -> None:
        """Log ``entries`` durably with one group commit (a batch request's decisions)."""
        self._log.append_many(entries)

    def read(self, decision_id: str, reader: Reader) -> dict[str, Any] | None:
        """The decision as ``reader`` may see it (:mod:`riskops.decisions.access`): None when
        there is none, or it is another client's."""
        log = self._log
        found = read_decision(log.get, decision_id, reader, store=log.store, clock=log.clock)
        return None if found is None else stored_view(found)

    def pending(self, decision_id: str, reader: Reader) -> dict[str, Any] | None:
        """The decision if it is still in the local WAL and ``reader``'s client's (never asks
        the store; an auditor's read is recorded, so it goes through :meth:`read`)."""
        found = self._log.pending(decision_id)
        return None if found is None or not visible(found, reader) else stored_view(found)

    def backlog(self) -> int:
        return self._log.backlog()

    def check(self) -> None:
        """Start the flusher again if it is gone."""
        self._log.check_flusher()

    def on_flusher_restart(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time :meth:`check` starts a flusher process again."""
        self._log.on_flusher_restart = callback

    def close(self) -> None:
        self._log.close()


def stored_view(found: StoredDecision) -> dict[str, Any]:
    """The caller's view of a stored decision: what was decided and why, never the features
    or the subject's pseudonym."""
    return {
        "decision_id": found.decision_id,
        "decided_at": found.decided_at.isoformat(),
        "model": found.model_name,
        "version": found.version,
        "digest": found.digest,
        "route": found.route,
        "served": found.served,
        "score": found.score,
        "decision": found.decision,
        "reasons": list(found.reasons),
        "fallback": found.fallback,
        "client": found.client,
    }


def open_decision_log(
    ctx: Context,
    wal_dir: Path,
    secrets: WorkspaceSecrets,
    *,
    flush_interval: float = 0.2,
    flusher: FlusherMode = "thread",
    model_cache: Path | None = None,
) -> DecisionSink:
    """The workspace's durable decision log, with its write-ahead files in ``wal_dir``,
    flushed to the store every ``flush_interval`` seconds by a thread or a process of its own
    (``flusher``); it replays what an earlier process left unflushed. ``secrets`` are the
    workspace's keys (:func:`riskops.privacy.fingerprint.bind_secrets`)."""
    wal_dir.mkdir(parents=True, exist_ok=True)
    log = DecisionLog.open(
        store=ctx.store,
        wal_dir=wal_dir,
        secrets=secrets,
        clock=ctx.clock,
        flush_interval=flush_interval,
        flusher=flusher,
        model_cache=model_cache,
        audit=ctx.settings.audit,
    )
    return DurableDecisions(log)


def slot_folder(wal_path: Path, slot: int) -> Path:
    return wal_path / f"worker-{slot}"


def claim_decision_log(
    ctx: Context,
    wal_path: Path,
    secrets: WorkspaceSecrets,
    *,
    flush_interval: float = 0.2,
    flusher: FlusherMode = "thread",
    model_cache: Path | None = None,
) -> DecisionSink:
    """:func:`open_decision_log` on the first free WAL slot under ``wal_path`` (see the module
    docstring); the slot stays this process's until it exits."""
    for slot in range(MAX_SLOTS):
        folder = slot_folder(wal_path, slot)
        try:
            sink = open_decision_log(
                ctx,
                folder,
                secrets,
                flush_interval=flush_interval,
                flusher=flusher,
                model_cache=model_cache,
            )
        except ConflictError:  # another live process holds this slot's LOCK
            continue
        log.info("Decision log: WAL slot %s", folder)
        return sink
    raise ConflictError(
        f"All {MAX_SLOTS} WAL slots in {wal_path} are held by running processes.",
        hint="Stop servers you do not need, or give this one its own RISKOPS_WAL_DIR.",
    )
