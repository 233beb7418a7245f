"""The durable decision log: every decision on disk before it is answered, then in the store,
sealed in the audit chain.

Path of a decision::

    append(LoggedDecision)                       # in the request, before the response
      subject   = HMAC pseudonym of the subject id (riskops.privacy.pseudonyms)
      features  = AES-256-GCM under the workspace's WAL key (associated data: decision id)
      client    = the client of the API key that asked (None outside the HTTP API; a WAL line
                  written before clients existed has no "client" and replays as None)
      environment = where it was decided (the server's environment; None outside a server,
                  and for a line written before environments were recorded)
      one JSON line → WAL segment → fsync (group commit) → return
    append_many([LoggedDecision, …])             # a batch request's decisions
      the same lines, written as one atomic WAL group: one write, one fsync → return
    flusher (a thread, or with flusher="process" a child process), every flush_interval or
    batch_size entries, in ONE store transaction:
      skip decision ids already stored (only before what was durable when the flusher began:
      a replay after a crash between commit and checkpoint)
      features re-sealed under the subject's own key (riskops.privacy.keys), created on first use
      INSERT decisions rows and one decision_batches row
      INSERT the batch's monitoring_aggregates rows: counts per (model, version, environment,
      hour, segment) over each version's frozen reference bins (riskops.decisions.aggregates)
      record decisions.batch_sealed in the audit chain (batch id, count, Merkle root, first and
      last decision ids)
    then the WAL checkpoint moves past the batch and fully flushed segments are deleted.

Neither the raw subject id nor a plaintext feature value is ever written to disk: the WAL holds
the pseudonym and ciphertext, the store the pseudonym and ciphertext under the subject's key.
Nothing about a decision is written outside that record (no per-decision monitoring rows): a
value that is not in the encrypted record cannot escape erasure. The monitoring aggregates
hold counts of a batch's decisions per window, nothing that names a decision or a person.

**Leaf hash of a decision** (what the batch's Merkle root is built from)::

    leaf = sha256(canonical_json({"id", "decided_at" (audit time format, µs, Z), "model_name",
                  "version", "digest", "route", "served", "subject", "score", "decision",
                  "reasons", "latency_ms", "fallback", "request_sha256",
                  "features_nonce" (hex or null), "features_ciphertext" (hex or null),
                  "client", "environment" (each only when it is not null)}))

with ``canonical_json`` of :mod:`riskops.audit.chain` (sorted keys, no whitespace, UTF-8) and
numbers as Python's shortest round-trip form. A decision's client is in its leaf, so moving it
to another client breaks its batch's seal; a decision without a client hashes as it did before
clients existed, so batches sealed then still verify. Leaves are ordered by decision id; the tree is
:func:`riskops.decisions.merkle.merkle_root`. Erasure deletes the subject's key, never the
ciphertext, so every leaf and root still verifies afterwards.

**Backlog.** The WAL indexes its entries after the checkpoint (id → position, see
:mod:`riskops.decisions.wal`), in this process, which sees every append; the index is pruned
to the checkpoint the flusher reports, so :meth:`DecisionLog.backlog` is the number of entries
not yet in the store and :meth:`DecisionLog.get` of a pending decision reads one line, of any
other id none.

**Flusher process.** The server publishes how far its WAL is synced in memory shared with
the child (:class:`riskops.decisions.flusher.Slot`), the child reports its checkpoint (a
position read from the checkpoint file when it starts, so a restarted child continues
right), holds
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

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from riskops.audit.trail import format_time
from riskops.config import AuditSettings, Settings
from riskops.decisions.aggregates import PlanSource, StoredPlans
from riskops.decisions.flusher import (
    FLUSHER_MODES,
    FLUSHER_SHORT_LIFE,
    SPAWN,
    Flusher,
    FlusherMode,
    Shipping,
    Slot,
    shareable,
    ship,
)
from riskops.decisions.reading import read_stored, with_values
from riskops.decisions.records import (
    STRICT_JSON,
    WAL_FORMAT,
    LoggedDecision,
    StoredDecision,
    check_entry,
    check_finite,
    new_nonce,
    new_nonces,
    open_wal_features,
    wal_aad,
)
from riskops.decisions.wal import DEFAULT_SEGMENT_BYTES, Position, WriteAheadLog
from riskops.errors import BackendError, ConfigError, InputError
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import NONCE_BYTES, SubjectKeys
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import Store

log = logging.getLogger(__name__)


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
        plans: PlanSource | None = None,
        model_cache: Path | None = None,
        audit: AuditSettings | None = None,
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
        # Called each time check_flusher starts a flusher process again (the server counts
        # restarts in its metrics; this package knows nothing of Prometheus).
        self.on_flusher_restart: Callable[[], None] | None = None
        # A store in memory cannot be reached from another process.
        self.mode: FlusherMode = flusher if shareable(store) else "thread"
        self._shared: Any = None
        if self.mode == "process":
            self._shared = SPAWN.Array("q", len(Slot))
        self.wal = WriteAheadLog(
            wal_dir, segment_bytes=segment_bytes, on_durable=self._durable, key_of=_entry_id
        )
        self._reader = self.wal.reader()
        if self._shared is not None:
            self._shared[Slot.CHECKPOINT] = self._reader.position.packed()
            self._publish(self.wal.durable_position())
        # The reference profiles come from the server's verified artifacts (``model_cache``).
        self.model_cache = model_cache
        # Where a flusher process signs and anchors audit checkpoints (a thread shares the
        # server's store, whose context checkpoints already).
        self.audit = audit
        self._flusher = Flusher(
            store,
            secrets,
            clock,
            self._reader,
            batch_size=batch_size,
            plans=plans if plans is not None else StoredPlans(model_cache),
        )

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

        The keys come from ``secrets``, or from the workspace ``settings``, checked against
        the store's fingerprint (:func:`riskops.privacy.fingerprint.bind_secrets`).
        """
        if secrets is None:
            if settings is None:
                raise ConfigError(
                    "DecisionLog.open needs the workspace secrets or settings.",
                    hint="Pass settings=ctx.settings.",
                )
            secrets = bind_secrets(settings, store)
        decision_log = cls(store, wal_dir, secrets, clock, **options)
        decision_log.start()
        return decision_log

    # -- appending ------------------------------------------------------------------------

    def append(self, entry: LoggedDecision) -> None:
        """Log ``entry`` durably: returns once its WAL line is fsync'd.

        Raises InputError for an entry the store could not hold (checked here, so that no
        entry in the WAL can block the flusher), BackendError if the WAL cannot be written.
        """
        self.wal.append(self._wal_line(entry), key=entry.decision_id)

    async def append_async(self, entry: LoggedDecision) -> None:
        """:meth:`append` for a coroutine: its event loop serves other requests while the
        line's group is synced."""
        await self.wal.append_async(self._wal_line(entry), key=entry.decision_id)

    def append_many(self, entries: Sequence[LoggedDecision]) -> None:
        """Log ``entries`` durably as one group: one WAL write and one fsync for all of them,
        and after a crash either all of them are in the log or none is
        (:meth:`riskops.decisions.wal.WriteAheadLog.append_many`). Returns once they are
        durable. InputError naming the first entry the store could not hold, before anything
        is written."""
        times: dict[datetime, str] = {}  # a batch's decisions share their time: format it once
        nonces = new_nonces(len(entries))
        lines = [
            self._wal_line(entry, times, nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES])
            for i, entry in enumerate(entries)
        ]
        self.wal.append_many(lines, [entry.decision_id for entry in entries])

    def _wal_line(
        self,
        entry: LoggedDecision,
        times: dict[datetime, str] | None = None,
        nonce: bytes | None = None,
    ) -> bytes:
        check_entry(entry)
        subject = pseudonym(self.secrets, entry.subject_id)
        # A reason's value is the subject's own input: it travels encrypted with the features
        # and is put back on read while the subject's key exists.
        reasons = [{k: v for k, v in r.items() if k != "value"} for r in entry.reasons]
        try:
            check_finite(entry.features, reasons)
            plain = orjson.dumps(entry.features, option=STRICT_JSON)
            reasons_json = orjson.Fragment(orjson.dumps(reasons, option=STRICT_JSON))
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"Decision {entry.decision_id}: features and reasons must be JSON values "
                f"without NaN or infinity ({exc}).",
                hint="Pass the request's features as received, and Reason.as_dict() reasons.",
            ) from exc
        if nonce is None:
            nonce = new_nonce()
        ciphertext = self._wal_cipher.encrypt(nonce, plain, wal_aad(entry.decision_id, subject))
        line = {
            "v": WAL_FORMAT,
            "id": entry.decision_id,
            "decided_at": _formatted(entry.decided_at, times),
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
            "client": entry.client,
            "environment": entry.environment,
        }
        return orjson.dumps(line)

    def _durable(self, durable: int, synced: Position) -> None:
        if self._shared is not None:
            self._publish(synced)
        self.wal.prune(self._checkpoint())
        if self._shared is None and self.wal.pending_entries() >= self.batch_size:
            self._wake.set()

    def _checkpoint(self) -> Position:
        """The flusher's checkpoint: every entry before it is in the store."""
        if self._shared is not None:
            return Position.unpack(int(self._shared[Slot.CHECKPOINT]))
        return self._reader.position

    def _publish(self, synced: Position) -> None:
        with self._shared.get_lock():
            self._shared[Slot.SEGMENT] = synced.segment
            self._shared[Slot.OFFSET] = synced.offset

    def backlog(self) -> int:
        """Decisions on disk locally but not yet in the store."""
        self.wal.prune(self._checkpoint())
        return self.wal.pending_entries()

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
        job = Shipping(
            database_url=self.store.engine.url.render_as_string(hide_password=False),
            wal_dir=self.wal.directory,
            secrets=self.secrets,
            batch_size=self.batch_size,
            flush_interval=self.flush_interval,
            max_backoff=self.max_backoff,
            parent_pid=os.getpid(),
            connect_timeout=self.store.connect_timeout,
            statement_timeout=self.store.statement_timeout,
            model_cache=self.model_cache,
            audit=self.audit,
        )
        process = SPAWN.Process(
            target=ship, args=(job, self._shared), name="riskops-decision-flusher", daemon=True
        )
        process.start()
        if self._process is None:
            # Before multiprocessing's own exit hook (atexit runs last-registered first), which
            # would wait forever for a flusher that ignores SIGTERM: a program that exits
            # without close() (an exception, sys.exit) drains and stops its flusher here.
            atexit.register(self.close)
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
        if self.on_flusher_restart is not None:
            self.on_flusher_restart()
        return False

    def flush(self, timeout: float = 60.0) -> int:
        """Move every durable WAL entry to the store now; the number of entries moved.
        Raises BackendError when the database does not answer (the entries stay in the WAL).

        With a flusher process, waits (up to ``timeout`` seconds) until it has moved every
        entry durable at the call."""
        if self._shared is None:
            with self._flush_lock:
                return self._flusher.flush()
        durable = self.wal.durable_position()
        waiting = self.backlog()  # every one of them lies before `durable`
        deadline = time.monotonic() + timeout
        while not self._flushed_until(durable):
            if time.monotonic() > deadline:
                raise BackendError(
                    f"The decision log's flusher did not store {self.backlog()} decision(s) "
                    f"within {timeout:g} s.",
                    hint="Check that the database answers; the decisions stay in the WAL and "
                    "are flushed when it does.",
                )
            self.check_flusher()
            time.sleep(0.02)
        return waiting

    def _flushed_until(self, position: Position) -> bool:
        """Whether every entry before ``position`` is in the store."""
        self.wal.prune(self._checkpoint())
        oldest = self.wal.oldest_pending()
        return oldest is None or oldest >= position

    def _run(self) -> None:
        delay = self.flush_interval
        while True:
            stopping = self._stop.is_set()
            try:
                with self._flush_lock:
                    self._flusher.flush_due()
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

    # -- reading and erasing ------------------------------------------------------------------

    def get(self, decision_id: str) -> StoredDecision | None:
        """A logged decision by id, still in the WAL backlog or from the store; None if
        neither has it. The features are decrypted while the subject's key exists.

        A pending decision is read from its place in the WAL (the index), without the store:
        it answers while the database is down. Any other id asks the store only (BackendError
        if it does not answer). The index is asked first: an entry leaves it only after its
        batch is committed, so nothing falls between the two."""
        found = self.pending(decision_id)
        return found if found is not None else self._stored(decision_id)

    def pending(self, decision_id: str) -> StoredDecision | None:
        """The decision if it is in the WAL backlog (one line read through the index, no
        store); None otherwise."""
        self.wal.prune(self._checkpoint())  # a flushed entry is read from the store (erasure)
        position = self.wal.locate(decision_id)
        if position is None:
            return None
        line = self.wal.read_entry(position)
        if line is None:  # flushed and its segment deleted meanwhile
            return None
        entry = orjson.loads(line)
        return self._pending(entry) if entry.get("id") == decision_id else None

    def _stored(self, decision_id: str) -> StoredDecision | None:
        return read_stored(self.store, self.keys, decision_id)

    def _pending(self, entry: Mapping[str, Any]) -> StoredDecision:
        features = open_wal_features(self._wal_cipher, entry)
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
            client=entry.get("client"),
            environment=entry.get("environment"),
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
            self._shared[Slot.STOP] = 1
            self._process.join(timeout)
            if self._process.is_alive():  # it ignores SIGTERM: what it did not store stays
                self._process.kill()  # in the WAL for the next start
                self._process.join(5)
            self._process = None
            atexit.unregister(self.close)

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _formatted(moment: datetime, times: dict[datetime, str] | None) -> str:
    if times is None:
        return format_time(moment)
    text = times.get(moment)
    if text is None:
        text = times[moment] = format_time(moment)
    return text


def _entry_id(line: bytes) -> str | None:
    """The decision id of a WAL line (its key in the WAL's index)."""
    found = orjson.loads(line).get("id")
    return found if isinstance(found, str) else None
