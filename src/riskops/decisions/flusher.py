"""The flusher: moves durable WAL entries into the store, a sealed batch per transaction, in a thread of the server or a process of its own."""

from __future__ import annotations

import enum
import fcntl
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from riskops.audit.log import install_checkpointing
from riskops.config import AuditSettings
from riskops.decisions.aggregates import PlanCache, PlanSource, StoredPlans, aggregate_batch
from riskops.decisions.records import (
    LEAF_FIELDS,
    OPTIONAL_LEAF_FIELDS,
    open_wal_features,
)
from riskops.decisions.sealing import seal_batch
from riskops.decisions.wal import Position, WalReader
from riskops.privacy.fingerprint import check_fingerprint
from riskops.privacy.keys import SubjectKeys, seal_features
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import Store
from riskops.store.tables import (
    DecisionRecord,
    table_of,
)

log = logging.getLogger(__name__)


# -- flushing: in a thread of the server, or in a process of its own ---------------------------

FlusherMode = Literal["thread", "process"]
FLUSHER_MODES: tuple[str, ...] = get_args(FlusherMode)
FLUSHER_LOCK = "FLUSHER.LOCK"
FLUSHER_NICENESS = 10
FLUSHER_SHORT_LIFE = 10.0  # seconds: a flusher that dies sooner is restarted after a pause
SPAWN = multiprocessing.get_context("spawn")


class Slot(enum.IntEnum):
    """The fields of the memory a server shares with its flusher process."""

    SEGMENT = 0  # the durable position (server → flusher)
    OFFSET = 1
    # The WAL checkpoint, packed (:meth:`Position.packed`; flusher → server). A position, not a
    # count: a flusher started again after a crash reads it from the checkpoint file and
    # publishes it, so the server's backlog is right whatever happened to the one before.
    CHECKPOINT = 2
    STOP = 3  # 1: drain what is durable, then exit (server → flusher)


class Flusher:
    """Moves durable WAL entries into the store, a batch per transaction (see the module
    docstring), and moves the WAL checkpoint after each. One flusher per WAL folder."""

    def __init__(
        self,
        store: Store,
        secrets: WorkspaceSecrets,
        clock: Callable[[], datetime],
        reader: WalReader,
        *,
        batch_size: int,
        plans: PlanSource | None = None,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock
        self.reader = reader
        self.batch_size = batch_size
        self.keys = SubjectKeys(store, secrets, clock)
        self._wal_cipher = AESGCM(secrets.wal_key)
        # An entry can already be in the store only if an earlier flusher committed its batch
        # and died before the checkpoint; such entries lie before what was durable when this
        # flusher began. Batches after that point skip the look-up.
        self._recovered_until = reader.durable()
        # Nothing reaches the store under a secret that is not the store's: checked once, before
        # the first batch (a server that started while the store was down could not check).
        self._secret_checked = False
        # Each version's monitoring plan (spec segment, reference profile), loaded once.
        self.plans = PlanCache(plans if plans is not None else StoredPlans())

    def flush(self) -> int:
        """Flush until no durable entry is left; the number of entries moved."""
        moved = 0
        while True:
            count = self.flush_once()
            if not count:
                return moved
            moved += count

    def flush_due(self, on_batch: Callable[[], None] | None = None) -> int:
        """One pass of a background flusher: every entry durable now, in batches of
        ``batch_size``, the last one perhaps smaller; the number of entries moved. Entries
        synced while the pass runs wait for the next one, unless the pass is still moving
        full batches: a pass that ended with a batch only as large as what arrived during the
        previous commit would seal a batch per few decisions, each with its own transaction,
        audit event and checkpoint (about three times the CPU per decision of full batches).
        ``on_batch`` runs after each batch's checkpoint."""
        moved = 0
        while True:
            count = self.flush_once()
            moved += count
            if count and on_batch is not None:
                on_batch()
            if count < self.batch_size:
                return moved

    def flush_once(self) -> int:
        batch = self.reader.read_batch(self.batch_size)
        if batch is None:
            return 0
        if not self._secret_checked:
            check_fingerprint(self.store, self.secrets)
            self._secret_checked = True
        entries = [orjson.loads(line) for line in batch.lines]
        with self.store.transaction() as session:
            ids = [e["id"] for e in entries]
            stored: set[str] = set()
            if batch.start is None or batch.start < self._recovered_until:
                stored = set(
                    session.scalars(select(DecisionRecord.id).where(DecisionRecord.id.in_(ids)))
                )
            fresh: dict[str, dict[str, Any]] = {}
            for e in entries:
                if e["id"] not in stored and e["id"] not in fresh:
                    fresh[e["id"]] = e
            if fresh:
                self._store_batch(session, list(fresh.values()))
        self.reader.checkpoint(batch)
        return len(batch.lines)

    def _store_batch(self, session: Session, entries: list[dict[str, Any]]) -> None:
        keys = self.keys.keys_for(session, {e["subject"] for e in entries})
        rows: list[dict[str, Any]] = []
        plain: list[dict[str, Any]] = []
        for e in sorted(entries, key=lambda e: str(e["id"])):
            features = open_wal_features(self._wal_cipher, e)
            plain.append(features)
            nonce, ciphertext = seal_features(keys[e["subject"]], e["subject"], features)
            row = {name: e[name] for name in LEAF_FIELDS[:-2]}
            # A line written before clients existed has none.
            row.update({name: e.get(name) for name in OPTIONAL_LEAF_FIELDS})
            row.update(
                decided_at=datetime.fromisoformat(e["decided_at"]),
                features_nonce=nonce,
                features_ciphertext=ciphertext,
            )
            rows.append(row)
        batch_id = seal_batch(session, rows, at=self.clock())
        for row in rows:
            row["batch_id"] = batch_id
        # A Core insert (one executemany): no ORM unit of work for thousands of rows.
        session.execute(insert(table_of(DecisionRecord)), rows)
        # The batch's monitoring aggregates, in its transaction: committed with it or not at all.
        aggregate_batch(session, batch_id, list(zip(rows, plain, strict=True)), self.plans)


def shareable(store: Store) -> bool:
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


@dataclass(frozen=True)
class Shipping:
    """What a flusher process needs (sent to it through a pipe, never on a command line)."""

    database_url: str
    wal_dir: Path
    secrets: WorkspaceSecrets = field(repr=False)
    batch_size: int
    flush_interval: float
    max_backoff: float
    parent_pid: int
    connect_timeout: float = 5.0  # seconds, as the server's store (riskops.store.open_store)
    statement_timeout: float = 10.0
    model_cache: Path | None = None  # the server's verified artifacts: the reference profiles
    audit: AuditSettings | None = None  # signing and anchoring of audit checkpoints


def ship(job: Shipping, shared: Any) -> None:
    """The flusher process: flush what the server has synced (``shared``) until the server
    says stop or is gone, backing off while the database does not answer; then one last
    drain. It holds ``FLUSHER.LOCK`` in the WAL folder, so a flusher left by a killed server
    finishes before the next one starts."""
    from riskops.store import open_store

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Ctrl-C and SIGTERM reach the whole process group; the server decides when this process
    # stops (after a last drain), and it stops by itself when the server is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Below the server in the scheduler's eyes: on a busy machine requests go first, and the
    # backlog (durable in the WAL) waits.
    os.nice(FLUSHER_NICENESS)
    lock = os.open(job.wal_dir / FLUSHER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if os.getppid() != job.parent_pid:
                return
            time.sleep(0.05)

    def durable() -> Position:
        with shared.get_lock():
            return Position(int(shared[Slot.SEGMENT]), int(shared[Slot.OFFSET]))

    def told_to_stop() -> bool:
        return bool(shared[Slot.STOP]) or os.getppid() != job.parent_pid

    def pause(seconds: float) -> None:
        # In short steps: a stop, or the server's death, ends the pause at once.
        deadline = time.monotonic() + seconds
        while not told_to_stop() and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    store = open_store(
        job.database_url,
        migrate=False,
        connect_timeout=job.connect_timeout,
        statement_timeout=job.statement_timeout,
    )
    install_checkpointing(store, job.audit, _utc_now)
    reader = WalReader(job.wal_dir, durable)
    shared[Slot.CHECKPOINT] = reader.position.packed()
    flusher = Flusher(
        store,
        job.secrets,
        _utc_now,
        reader,
        batch_size=job.batch_size,
        plans=StoredPlans(job.model_cache),
    )

    def report() -> None:
        shared[Slot.CHECKPOINT] = reader.position.packed()

    delay = job.flush_interval
    while True:
        stopping = told_to_stop()
        try:
            flusher.flush_due(report)
        except Exception as exc:  # the entries stay in the WAL: retry later
            log.warning("decision log: flush failed, retrying in %.1fs: %s", delay, exc)
            if stopping:
                break
            pause(delay)
            delay = min(delay * 2, job.max_backoff)
            continue
        delay = job.flush_interval
        if stopping:
            break
        pause(job.flush_interval)
    store.engine.dispose()
    os.close(lock)


def _utc_now() -> datetime:
    return datetime.now(UTC)
