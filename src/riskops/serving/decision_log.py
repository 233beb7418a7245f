"""The durable decision log: every decision on disk before it is answered, then in the store,
sealed in the audit chain.

Path of a decision::

    append(LoggedDecision)                       # in the request, before the response
      subject   = HMAC pseudonym of the subject id (riskops.privacy.pseudonyms)
      features  = AES-256-GCM under the workspace's WAL key (associated data: decision id)
      one JSON line → WAL segment → fsync (group commit) → return
    flusher (a thread, or with flusher="process" a child process), every flush_interval or
    batch_size entries, in ONE store transaction:
      skip decision ids already stored (only before what was durable when the flusher began:
      a replay after a crash between commit and checkpoint)
      features re-sealed under the subject's own key (riskops.privacy.keys), created on first use
      INSERT decisions rows, one decision_batches row, one monitoring_observations row each
      record decisions.batch_sealed in the audit chain (batch id, count, Merkle root, first and
      last decision ids)
    then the WAL checkpoint moves past the batch and fully flushed segments are deleted.

Neither the raw subject id nor a plaintext feature value is ever written to disk: the WAL holds
the pseudonym and ciphertext, the store the pseudonym, ciphertext under the subject's key, and
de-identified monitoring observations with no subject and no decision id.

**Leaf hash of a decision** (what the batch's Merkle root is built from)::

    leaf = sha256(canonical_json({"id", "decided_at" (audit time format, µs, Z), "model_name",
                  "version", "digest", "route", "served", "subject", "score", "decision",
                  "reasons", "latency_ms", "fallback", "request_sha256",
                  "features_nonce" (hex or null), "features_ciphertext" (hex or null)}))

with ``canonical_json`` of :mod:`riskops.audit.chain` (sorted keys, no whitespace, UTF-8) and
numbers as Python's shortest round-trip form. Leaves are ordered by decision id; the tree is
:func:`riskops.serving.merkle.merkle_root`. Erasure deletes the subject's key, never the
ciphertext, so every leaf and root still verifies afterwards.

**Monitoring observation** of a decision: model, version, the hour (``decided_at`` truncated to
the hour, UTC), the score rounded to 4 decimals, and per feature a bin — a number (not a bool)
rounded to 2 significant figures (``37 → 37``, ``1234 → 1200``, ``0.04567 → 0.046``); a string
or bool as itself (the category); a missing or non-finite value as null. A batch's observations
are inserted in random order, so their row order does not line up with the decisions'.

**Flusher process.** The server publishes how far its WAL is synced in memory shared with
the child (:class:`_Slot`), the child reports how many entries it has stored, holds
``FLUSHER.LOCK`` in the WAL folder, runs below the server's CPU priority, stops when told or
when the server is gone, and is started again by :meth:`DecisionLog.check_flusher` if it dies.

**Database down.** The flusher retries with exponential backoff (``flush_interval`` doubling up
to ``max_backoff``) while appends go on and the WAL grows; :meth:`DecisionLog.backlog` counts
the entries not yet in the store. **Crash.** :meth:`DecisionLog.open` replays every entry after
the checkpoint; decision ids already in the store are skipped, so nothing is lost or doubled.

Example::

    log = DecisionLog.open(store=ctx.store, wal_dir=home / "wal", settings=ctx.settings,
                           clock=ctx.clock)
    log.append(LoggedDecision(...))   # durable on return
    log.get(decision_id)              # StoredDecision, from the store or the WAL backlog
    log.close()
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from riskops.audit.chain import canonical_json
from riskops.audit.trail import format_time, record
from riskops.config import Settings
from riskops.errors import BackendError, ConfigError, InputError
from riskops.privacy.keys import NONCE_BYTES, SubjectKeys, open_features, seal_features
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets
from riskops.serving.merkle import merkle_root
from riskops.serving.scorer import Decision
from riskops.serving.wal import DEFAULT_SEGMENT_BYTES, Position, WalReader, WriteAheadLog
from riskops.store import Store
from riskops.store.tables import (
    AuditEventRecord,
    DecisionBatchRecord,
    DecisionRecord,
    MonitoringObservationRecord,
    table_of,
)

log = logging.getLogger(__name__)

ROUTES = ("champion", "canary", "shadow")
SEAL_ACTION = "decisions.batch_sealed"
SERVICE_ACTOR = "decision-log"
SERVICE_ROLE = "service"
WAL_FORMAT = 1

_LEAF_FIELDS = (
    "id",
    "decided_at",
    "model_name",
    "version",
    "digest",
    "route",
    "served",
    "subject",
    "score",
    "decision",
    "reasons",
    "latency_ms",
    "fallback",
    "request_sha256",
    "features_nonce",
    "features_ciphertext",
)


@dataclass(frozen=True)
class LoggedDecision:
    """A decision as the service hands it to the log: raw subject id and plain features, which
    :meth:`DecisionLog.append` pseudonymises and encrypts before anything reaches disk."""

    decision_id: str
    decided_at: datetime
    model_name: str
    version: int
    digest: str
    route: str
    served: bool
    subject_id: str
    features: Mapping[str, Any] = field(repr=False)
    score: float | None
    decision: str
    reasons: Sequence[Mapping[str, Any]]
    latency_ms: float
    fallback: bool
    request_sha256: str

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        decision_id: str,
        decided_at: datetime,
        route: str,
        served: bool,
        subject_id: str,
        features: Mapping[str, Any],
        request_sha256: str,
    ) -> LoggedDecision:
        return cls(
            decision_id=decision_id,
            decided_at=decided_at,
            model_name=decision.model,
            version=decision.version,
            digest=decision.digest,
            route=route,
            served=served,
            subject_id=subject_id,
            features=dict(features),
            score=decision.score,
            decision=decision.decision,
            reasons=[r.as_dict() for r in decision.reasons],
            latency_ms=decision.latency_ms,
            fallback=decision.fallback,
            request_sha256=request_sha256,
        )


@dataclass(frozen=True)
class StoredDecision:
    """A logged decision as read back. ``features`` is None and ``erased`` True once the
    subject's key was deleted; ``flushed`` is False while it waits in the WAL backlog."""

    kind: ClassVar[str] = "riskops.decision-log/decision@1"

    decision_id: str
    decided_at: datetime
    model_name: str
    version: int
    digest: str
    route: str
    served: bool
    subject: str
    score: float | None
    decision: str
    reasons: list[dict[str, Any]]
    latency_ms: float
    fallback: bool
    request_sha256: str
    features: dict[str, Any] | None = field(repr=False)
    erased: bool
    flushed: bool
    batch_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "decision_id": self.decision_id,
            "decided_at": self.decided_at.isoformat(),
            "model_name": self.model_name,
            "version": self.version,
            "digest": self.digest,
            "route": self.route,
            "served": self.served,
            "subject": self.subject,
            "score": self.score,
            "decision": self.decision,
            "reasons": self.reasons,
            "latency_ms": self.latency_ms,
            "fallback": self.fallback,
            "request_sha256": self.request_sha256,
            "features": self.features,
            "erased": self.erased,
            "flushed": self.flushed,
            "batch_id": self.batch_id,
        }


def decision_leaf(row: Mapping[str, Any]) -> str:
    """The leaf hash of a stored decision row (see the module docstring)."""
    decided_at = row["decided_at"]
    score = row["score"]
    nonce, ciphertext = row["features_nonce"], row["features_ciphertext"]
    fields = {
        "id": row["id"],
        "decided_at": decided_at if isinstance(decided_at, str) else format_time(decided_at),
        "model_name": row["model_name"],
        "version": int(row["version"]),
        "digest": row["digest"],
        "route": row["route"],
        "served": bool(row["served"]),
        "subject": row["subject"],
        "score": None if score is None else float(score),
        "decision": row["decision"],
        "reasons": row["reasons"],
        "latency_ms": float(row["latency_ms"]),
        "fallback": bool(row["fallback"]),
        "request_sha256": row["request_sha256"],
        "features_nonce": None if nonce is None else bytes(nonce).hex(),
        "features_ciphertext": None if ciphertext is None else bytes(ciphertext).hex(),
    }
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def deidentify(features: Mapping[str, Any]) -> dict[str, Any]:
    """The monitoring bins of a request's features (see the module docstring)."""
    bins: dict[str, Any] = {}
    for name, value in features.items():
        if isinstance(value, bool | str):
            bins[name] = value
        elif isinstance(value, int | float) and math.isfinite(value):
            bins[name] = float(f"{float(value):.2g}")
        else:
            bins[name] = None
    return bins


class DecisionLog:
    """The decision log of one server process over one WAL folder and the store.

    Build it with :meth:`open` (which also starts the flusher). ``append`` is thread-safe;
    concurrent appends share one fsync.
    """

    def __init__(
        self,
        store: Store,
        wal_dir: Path,
        secrets: WorkspaceSecrets,
        clock: Callable[[], datetime],
        *,
        batch_size: int = 256,
        flush_interval: float = 0.2,
        max_backoff: float = 30.0,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        flusher: FlusherMode = "thread",
    ) -> None:
        if batch_size < 1 or flush_interval <= 0 or flusher not in FLUSHER_MODES:
            raise ConfigError(
                f"batch_size must be ≥ 1, flush_interval > 0 and flusher one of "
                f"{', '.join(FLUSHER_MODES)}; got {batch_size}, {flush_interval}, {flusher!r}.",
                hint="For example batch_size=256, flush_interval=0.2 (seconds), flusher='thread'.",
            )
        self.store = store
        self.secrets = secrets
        self.clock = clock
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.keys = SubjectKeys(store, secrets, clock)
        self._wal_cipher = AESGCM(secrets.wal_key)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._process: BaseProcess | None = None
        self._started_at = 0.0  # monotonic time the flusher process was last started
        self._restart_at = 0.0  # not before this monotonic time
        self._restart_delay = 0.0
        self.last_error: Exception | None = None
        # A store in memory cannot be reached from another process.
        self.mode: FlusherMode = flusher if _shareable(store) else "thread"
        self._shared: Any = None
        if self.mode == "process":
            self._shared = _SPAWN.Array("q", len(_Slot))
        self.wal = WriteAheadLog(wal_dir, segment_bytes=segment_bytes, on_durable=self._durable)
        self._reader = self.wal.reader()
        if self._shared is not None:
            self._publish(self.wal.durable_position())
        self._flusher = Flusher(store, secrets, clock, self._reader, batch_size=batch_size)

    @classmethod
    def open(
        cls,
        *,
        store: Store,
        wal_dir: Path,
        clock: Callable[[], datetime],
        secrets: WorkspaceSecrets | None = None,
        settings: Settings | None = None,
        **options: Any,
    ) -> DecisionLog:
        """Open the log, replay whatever an earlier process left unflushed, start flushing.

        The keys come from ``secrets``, or from the workspace ``settings``
        (:func:`riskops.privacy.secrets.load_secrets`).
        """
        if secrets is None:
            if settings is None:
                raise ConfigError(
                    "DecisionLog.open needs the workspace secrets or settings.",
                    hint="Pass settings=ctx.settings.",
                )
            secrets = load_secrets(settings)
        decision_log = cls(store, wal_dir, secrets, clock, **options)
        decision_log.start()
        return decision_log

    # -- appending ------------------------------------------------------------------------

    def append(self, entry: LoggedDecision) -> None:
        """Log ``entry`` durably: returns once its WAL line is fsync'd.

        Raises InputError for an entry the store could not hold (checked here, so that no
        entry in the WAL can block the flusher), BackendError if the WAL cannot be written.
        """
        self.wal.append(self._wal_line(entry))

    async def append_async(self, entry: LoggedDecision) -> None:
        """:meth:`append` for a coroutine: its event loop serves other requests while the
        line's group is synced."""
        await self.wal.append_async(self._wal_line(entry))

    def _wal_line(self, entry: LoggedDecision) -> bytes:
        _check(entry)
        subject = pseudonym(self.secrets, entry.subject_id)
        # A reason's value is the subject's own input: it travels encrypted with the features
        # and is put back on read while the subject's key exists.
        reasons = [{k: v for k, v in r.items() if k != "value"} for r in entry.reasons]
        try:
            _check_finite(entry.features, reasons)
            plain = orjson.dumps(entry.features, option=_STRICT)
            reasons_json = orjson.Fragment(orjson.dumps(reasons, option=_STRICT))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Decision {entry.decision_id}: features and reasons must be JSON values "
                f"without NaN or infinity ({exc}).",
                hint="Pass the request's features as received, and Reason.as_dict() reasons.",
            ) from exc
        nonce = _nonce()
        ciphertext = self._wal_cipher.encrypt(nonce, plain, _wal_aad(entry.decision_id, subject))
        line = {
            "v": WAL_FORMAT,
            "id": entry.decision_id,
            "decided_at": format_time(entry.decided_at),
            "model_name": entry.model_name,
            "version": int(entry.version),
            "digest": entry.digest,
            "route": entry.route,
            "served": bool(entry.served),
            "subject": subject,
            "score": None if entry.score is None else float(entry.score),
            "decision": entry.decision,
            "reasons": reasons_json,
            "latency_ms": float(entry.latency_ms),
            "fallback": bool(entry.fallback),
            "request_sha256": entry.request_sha256,
            "nonce": nonce.hex(),
            "features": ciphertext.hex(),
        }
        return orjson.dumps(line)

    def _durable(self, durable: int, synced: Position) -> None:
        if self._shared is not None:
            self._publish(synced)
        elif durable - self._reader.flushed >= self.batch_size:
            self._wake.set()

    def _publish(self, synced: Position) -> None:
        with self._shared.get_lock():
            self._shared[_Slot.SEGMENT] = synced.segment
            self._shared[_Slot.OFFSET] = synced.offset

    def backlog(self) -> int:
        """Decisions on disk locally but not yet in the store."""
        if self._shared is not None:
            return max(0, self.wal.durable_entries() - int(self._shared[_Slot.FLUSHED]))
        return max(0, self.wal.durable_entries() - self._reader.flushed)

    # -- flushing -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background flusher (it first drains any backlog left by a crash): a
        thread of this process, or with ``flusher="process"`` a child process."""
        if self.mode == "process":
            self._start_process()
        elif self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="riskops-decision-flusher", daemon=True
            )
            self._thread.start()

    def _start_process(self) -> None:
        job = _Shipping(
            database_url=self.store.engine.url.render_as_string(hide_password=False),
            wal_dir=self.wal.directory,
            secrets=self.secrets,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
            max_backoff=self.max_backoff,
            parent_pid=os.getpid(),
        )
        process = _SPAWN.Process(
            target=ship, args=(job, self._shared), name="riskops-decision-flusher", daemon=True
        )
        process.start()
        self._process = process
        self._started_at = time.monotonic()

    def check_flusher(self) -> bool:
        """Whether the flusher runs; a flusher process that died is started again (its work
        is in the WAL, so nothing is lost). One that keeps dying soon after its start is
        started again after a growing pause (2 s doubling up to ``max_backoff``), not in a
        loop."""
        if self.mode != "process" or self._stop.is_set():
            return self._thread is not None and self._thread.is_alive()
        if self._process is not None and self._process.is_alive():
            return True
        now = time.monotonic()
        if now < self._restart_at:
            return False
        code = None if self._process is None else self._process.exitcode
        if now - self._started_at < FLUSHER_SHORT_LIFE:
            self._restart_delay = min(max(2 * self._restart_delay, 2.0), self.max_backoff)
        else:
            self._restart_delay = 0.0
        self._restart_at = now + self._restart_delay
        log.error(
            "decision log: the flusher process is gone (exit %s); starting another%s. If it "
            "dies at start, see its error above (a script that builds the app at import time "
            "needs an `if __name__ == \"__main__\":` guard, or flusher='thread').",
            code,
            f" (next restart not before {self._restart_delay:.0f} s)"
            if self._restart_delay
            else "",
        )
        self._start_process()
        return False

    def flush(self, timeout: float = 60.0) -> int:
        """Move every durable WAL entry to the store now; the number of entries moved.
        Raises BackendError when the database does not answer (the entries stay in the WAL).

        With a flusher process, waits (up to ``timeout`` seconds) until it has moved every
        entry durable at the call."""
        if self._shared is None:
            with self._flush_lock:
                return self._flusher.flush()
        durable = self.wal.durable_entries()
        flushed_before = int(self._shared[_Slot.FLUSHED])
        deadline = time.monotonic() + timeout
        while int(self._shared[_Slot.FLUSHED]) < durable:
            if time.monotonic() > deadline:
                raise BackendError(
                    f"The decision log's flusher did not store {self.backlog()} decision(s) "
                    f"within {timeout:g} s.",
                    hint="Check that the database answers; the decisions stay in the WAL and "
                    "are flushed when it does.",
                )
            self.check_flusher()
            time.sleep(0.02)
        return int(self._shared[_Slot.FLUSHED]) - flushed_before

    def _run(self) -> None:
        delay = self.flush_interval
        while True:
            stopping = self._stop.is_set()
            try:
                with self._flush_lock:
                    self._flusher.flush()
            except Exception as exc:  # any failure: the entries stay in the WAL, retry later
                self.last_error = exc
                log.warning("decision log: flush failed, retrying in %.1fs: %s", delay, exc)
                if stopping:
                    return
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            self.last_error = None
            delay = self.flush_interval
            if stopping:
                return
            self._wake.wait(self.flush_interval)
            self._wake.clear()

    def _open_wal_features(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return _open_wal_features(self._wal_cipher, entry)

    # -- reading and erasing ------------------------------------------------------------------

    def get(self, decision_id: str) -> StoredDecision | None:
        """A logged decision by id, from the store or still in the WAL backlog; None if
        neither has it. The features are decrypted while the subject's key exists."""
        failure: BackendError | None = None
        try:
            found = self._stored(decision_id)
        except BackendError as exc:
            found, failure = None, exc
        if found is not None:
            return found
        for entry in self._reader.unflushed():
            if entry["id"] == decision_id:
                return self._pending(entry)
        if failure is not None:
            raise failure
        # It may have been flushed while the WAL was read.
        return self._stored(decision_id)

    def _stored(self, decision_id: str) -> StoredDecision | None:
        return read_stored(self.store, self.keys, decision_id)

    def _pending(self, entry: Mapping[str, Any]) -> StoredDecision:
        features = self._open_wal_features(entry)
        return StoredDecision(
            decision_id=entry["id"],
            decided_at=datetime.fromisoformat(entry["decided_at"]),
            model_name=entry["model_name"],
            version=entry["version"],
            digest=entry["digest"],
            route=entry["route"],
            served=entry["served"],
            subject=entry["subject"],
            score=entry["score"],
            decision=entry["decision"],
            reasons=with_values(entry["reasons"], features),
            latency_ms=entry["latency_ms"],
            fallback=entry["fallback"],
            request_sha256=entry["request_sha256"],
            features=features,
            erased=False,
            flushed=False,
            batch_id=None,
        )

    def erase_subject(self, subject_id: str, *, actor: str, role: str) -> bool:
        """Flush the backlog (so that the subject's pending decisions are sealed under the key
        about to go), then delete the subject's key: see
        :meth:`riskops.privacy.keys.SubjectKeys.erase_subject`."""
        self.flush()
        return self.keys.erase_subject(subject_id, actor=actor, role=role)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the flusher after a last attempt to drain the backlog, and release the WAL.
        What is not flushed stays in the WAL for the next :meth:`open`."""
        self.wal.close()  # queued appends are written first, and their position published
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._process is not None:
            self._shared[_Slot.STOP] = 1
            self._process.join(timeout)
            if self._process.is_alive():  # it ignores SIGTERM: what it did not store stays
                self._process.kill()  # in the WAL for the next start
                self._process.join(5)
            self._process = None

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- flushing: in a thread of the server, or in a process of its own ---------------------------

FlusherMode = Literal["thread", "process"]
FLUSHER_MODES: tuple[str, ...] = get_args(FlusherMode)
FLUSHER_LOCK = "FLUSHER.LOCK"
FLUSHER_NICENESS = 10
FLUSHER_SHORT_LIFE = 10.0  # seconds: a flusher that dies sooner is restarted after a pause
_SPAWN = multiprocessing.get_context("spawn")


class _Slot(enum.IntEnum):
    """The fields of the memory a server shares with its flusher process."""

    SEGMENT = 0  # the durable position (server → flusher)
    OFFSET = 1
    FLUSHED = 2  # entries checkpointed since the server started (flusher → server)
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
    ) -> None:
        self.store = store
        self.clock = clock
        self.reader = reader
        self.batch_size = batch_size
        self.keys = SubjectKeys(store, secrets, clock)
        self._wal_cipher = AESGCM(secrets.wal_key)
        # An entry can already be in the store only if an earlier flusher committed its batch
        # and died before the checkpoint; such entries lie before what was durable when this
        # flusher began. Batches after that point skip the look-up.
        self._recovered_until = reader.durable()

    def flush(self) -> int:
        """Flush until no durable entry is left; the number of entries moved."""
        moved = 0
        while True:
            count = self.flush_once()
            if not count:
                return moved
            moved += count

    def flush_once(self) -> int:
        batch = self.reader.read_batch(self.batch_size)
        if batch is None:
            return 0
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
        observations: list[dict[str, Any]] = []
        for e in sorted(entries, key=lambda e: str(e["id"])):
            features = _open_wal_features(self._wal_cipher, e)
            nonce, ciphertext = seal_features(keys[e["subject"]], e["subject"], features)
            decided_at = datetime.fromisoformat(e["decided_at"])
            row = {name: e[name] for name in _LEAF_FIELDS[:-2]}
            row.update(decided_at=decided_at, features_nonce=nonce, features_ciphertext=ciphertext)
            rows.append(row)
            observations.append(
                {
                    "model_name": e["model_name"],
                    "version": e["version"],
                    "hour": decided_at.replace(minute=0, second=0, microsecond=0),
                    "score": None if e["score"] is None else round(e["score"], 4),
                    "bins": deidentify(features),
                }
            )
        root = merkle_root([decision_leaf(row) for row in rows])
        now = self.clock()
        batch = DecisionBatchRecord(
            merkle_root=root,
            count=len(rows),
            first_decided_at=min(r["decided_at"] for r in rows),
            last_decided_at=max(r["decided_at"] for r in rows),
            audit_seq=0,
            created_at=now,
        )
        session.add(batch)
        session.flush()
        event = record(
            session,
            actor=SERVICE_ACTOR,
            role=SERVICE_ROLE,
            action=SEAL_ACTION,
            object_type="decision_batch",
            object_id=f"decision-batch/{batch.id}",
            payload={
                "batch_id": batch.id,
                "count": len(rows),
                "merkle_root": root,
                "first_decision_id": rows[0]["id"],
                "last_decision_id": rows[-1]["id"],
            },
            at=now,
        )
        batch.audit_seq = event.seq
        for row in rows:
            row["batch_id"] = batch.id
        # Core inserts (one executemany each): no ORM unit of work for thousands of rows.
        session.execute(insert(table_of(DecisionRecord)), rows)
        random.SystemRandom().shuffle(observations)
        session.execute(insert(table_of(MonitoringObservationRecord)), observations)


def _open_wal_features(cipher: AESGCM, entry: Mapping[str, Any]) -> dict[str, Any]:
    plain = cipher.decrypt(
        bytes.fromhex(entry["nonce"]),
        bytes.fromhex(entry["features"]),
        _wal_aad(entry["id"], entry["subject"]),
    )
    features: dict[str, Any] = orjson.loads(plain)
    return features


def _shareable(store: Store) -> bool:
    url = store.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


@dataclass(frozen=True)
class _Shipping:
    """What a flusher process needs (sent to it through a pipe, never on a command line)."""

    database_url: str
    wal_dir: Path
    secrets: WorkspaceSecrets = field(repr=False)
    batch_size: int
    flush_interval: float
    max_backoff: float
    parent_pid: int


def ship(job: _Shipping, shared: Any) -> None:
    """The flusher process: flush what the server has synced (``shared``) until the server
    says stop or is gone, backing off while the database does not answer; then one last
    drain. It holds ``FLUSHER.LOCK`` in the WAL folder, so a flusher left by a killed server
    finishes before the next one starts."""
    from riskops.context import utc_now
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
            return Position(int(shared[_Slot.SEGMENT]), int(shared[_Slot.OFFSET]))

    def told_to_stop() -> bool:
        return bool(shared[_Slot.STOP]) or os.getppid() != job.parent_pid

    def pause(seconds: float) -> None:
        # In short steps: a stop, or the server's death, ends the pause at once.
        deadline = time.monotonic() + seconds
        while not told_to_stop() and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    store = open_store(job.database_url, migrate=False)
    reader = WalReader(job.wal_dir, durable)
    flusher = Flusher(store, job.secrets, utc_now, reader, batch_size=job.batch_size)
    delay = job.flush_interval
    while True:
        stopping = told_to_stop()
        try:
            while flusher.flush_once():
                shared[_Slot.FLUSHED] = reader.flushed
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


# Anything but JSON's own types is refused (orjson would write a datetime or a dataclass).
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _check_finite(features: Mapping[str, Any], reasons: Sequence[Mapping[str, Any]]) -> None:
    """orjson writes NaN and infinity as null; the log refuses them instead."""
    for name, value in features.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"feature {name!r} is {value}")
    for reason in reasons:
        for key, value in reason.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"reason {reason.get('code')!r} has {key}={value}")


def _nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _wal_aad(decision_id: str, subject: str) -> bytes:
    return f"{decision_id}|{subject}".encode()


def _check(entry: LoggedDecision) -> None:
    problems = []
    try:
        if str(uuid.UUID(entry.decision_id)) != entry.decision_id:
            problems.append("decision_id must be a lowercase hyphenated UUID")
    except (ValueError, AttributeError, TypeError):
        problems.append("decision_id must be a UUID")
    if entry.decided_at.tzinfo is None:
        problems.append("decided_at must be timezone-aware")
    if entry.route not in ROUTES:
        problems.append(f"route must be one of {', '.join(ROUTES)}")
    if entry.route == "shadow" and entry.served:
        problems.append("a shadow decision is never served")
    if not 0 < len(entry.model_name) <= 100:
        problems.append("model_name must have 1 to 100 characters")
    if len(entry.digest) > 71 or not 0 < len(entry.decision) <= 10:
        problems.append("digest must have ≤ 71 characters and decision 1 to 10")
    if len(entry.request_sha256) != 64 or entry.request_sha256.strip("0123456789abcdef"):
        problems.append("request_sha256 must be 64 lowercase hex digits")
    if entry.score is not None and not math.isfinite(entry.score):
        problems.append("score must be finite or None")
    if not math.isfinite(entry.latency_ms):
        problems.append("latency_ms must be finite")
    if problems:
        raise InputError(
            f"Decision {entry.decision_id!r} cannot be logged: {'; '.join(problems)}.",
            hint="Build it with LoggedDecision.from_decision(scorer's decision, ...).",
        )


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionsReport:
    """Whether every stored decision still hashes to its batch's sealed Merkle root."""

    kind: ClassVar[str] = "riskops.decision-log/verify@1"

    ok: bool
    batches: int
    decisions: int
    broken_batch: int | None = None
    decision_id: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "batches": self.batches,
            "decisions": self.decisions,
            "broken_batch": self.broken_batch,
            "decision_id": self.decision_id,
            "reason": self.reason,
        }


def verify_decisions(store: Store) -> DecisionsReport:
    """Recompute every sealed batch's Merkle root from the stored decisions and compare it with
    the root sealed in the audit chain; name the first batch (and, where it can be told, the
    decision) that was deleted, added or edited.

    The chain's own integrity is :func:`riskops.audit.verify`'s job: run both.
    """
    with store.reading() as session:
        sealed = {
            payload["batch_id"]: (seq, payload)
            for seq, payload in (
                (seq, json.loads(text))
                for seq, text in session.execute(
                    select(AuditEventRecord.seq, AuditEventRecord.payload)
                    .where(AuditEventRecord.action == SEAL_ACTION)
                    .order_by(AuditEventRecord.seq)
                )
            )
        }
        batches = {b.id: b for b in session.scalars(select(DecisionBatchRecord))}
        table = table_of(DecisionRecord)
        query = select(*(table.c[name] for name in (*_LEAF_FIELDS, "batch_id"))).order_by(
            table.c.batch_id, table.c.id
        )
        rows = session.execute(query.execution_options(yield_per=5000)).mappings()
        by_batch = {
            batch_id: list(group)
            for batch_id, group in itertools.groupby(rows, key=lambda r: r["batch_id"])
        }
    total = sum(len(group) for group in by_batch.values())
    counted = 0
    for batch_id in sorted(set(sealed) | set(batches) | {b for b in by_batch if b is not None}):
        group = by_batch.get(batch_id, [])
        problem = _batch_problem(batch_id, sealed.get(batch_id), batches.get(batch_id), group)
        if problem is not None:
            decision_id, reason = problem
            return DecisionsReport(False, counted, total, batch_id, decision_id, reason)
        counted += 1
    if None in by_batch:
        orphan = by_batch[None][0]["id"]
        return DecisionsReport(
            False, counted, total, None, orphan, f"decision {orphan} belongs to no sealed batch"
        )
    return DecisionsReport(True, counted, total)


def _batch_problem(
    batch_id: int,
    sealed: tuple[int, Mapping[str, Any]] | None,
    batch: DecisionBatchRecord | None,
    rows: Sequence[Any],
) -> tuple[str | None, str] | None:
    if sealed is None:
        return None, f"batch {batch_id} has no {SEAL_ACTION} event in the audit chain"
    seq, payload = sealed
    if batch is None:
        return None, f"batch {batch_id} (sealed at audit event {seq}) was deleted"
    if batch.merkle_root != payload["merkle_root"] or batch.count != payload["count"]:
        return None, f"batch {batch_id}'s row differs from what audit event {seq} sealed"
    ids = [r["id"] for r in rows]
    first, last = payload["first_decision_id"], payload["last_decision_id"]
    if len(rows) < payload["count"]:
        missing = next((i for i in (first, last) if i not in ids), None)
        where = f"decision {missing}" if missing else f"a decision between {first} and {last}"
        return missing, (
            f"batch {batch_id} has {len(rows)} of the {payload['count']} decisions sealed at "
            f"audit event {seq}: {where} was deleted"
        )
    if len(rows) > payload["count"]:
        extra = next((i for i in ids if i < first or i > last), None)
        return extra, (
            f"batch {batch_id} has {len(rows)} decisions but audit event {seq} sealed "
            f"{payload['count']}: a decision was added"
        )
    if ids[0] != first or ids[-1] != last:
        changed = ids[0] if ids[0] != first else ids[-1]
        return changed, f"batch {batch_id}: decision ids differ from those sealed at event {seq}"
    if merkle_root([decision_leaf(r) for r in rows]) != payload["merkle_root"]:
        return None, (
            f"batch {batch_id}: its {len(rows)} decisions ({first} … {last}) no longer hash to "
            f"the Merkle root sealed at audit event {seq}: a decision was edited"
        )
    return None


def read_stored(store: Store, keys: SubjectKeys, decision_id: str) -> StoredDecision | None:
    """A flushed decision from the store, its features decrypted while the subject's key
    exists (after erasure ``features`` is None and ``erased`` True); None if not stored."""
    with store.reading() as session:
        row = session.get(DecisionRecord, decision_id)
        if row is None:
            return None
        key = keys.keys_for(session, [row.subject], create=False).get(row.subject)
    features = None
    if key is not None and row.features_nonce is not None and row.features_ciphertext:
        try:
            features = open_features(key, row.subject, row.features_nonce, row.features_ciphertext)
        except InvalidTag:
            features = None  # a newer key: the one that sealed these was erased
    return StoredDecision(
        decision_id=row.id,
        decided_at=row.decided_at,
        model_name=row.model_name,
        version=row.version,
        digest=row.digest,
        route=row.route,
        served=row.served,
        subject=row.subject,
        score=row.score,
        decision=row.decision,
        reasons=with_values(row.reasons, features),
        latency_ms=row.latency_ms,
        fallback=row.fallback,
        request_sha256=row.request_sha256,
        features=features,
        erased=features is None,
        flushed=True,
        batch_id=row.batch_id,
    )


def with_values(
    reasons: Sequence[Mapping[str, Any]], features: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The stored reasons with each reason's input value put back from the decrypted
    features; after erasure (no features) the reasons keep only code, text and contribution."""
    out = []
    for reason in reasons:
        item = dict(reason)
        if features is not None and item.get("code") in features:
            item["value"] = features[item["code"]]
        out.append(item)
    return out
