"""The Merkle log over the audit events, and the checkpointer that signs and anchors its heads.

Leaf ``i`` of the log is event ``seq = i + 1``; its bytes are the event's canonical record text
(:func:`riskops.audit.chain.record_text`, UTF-8), so the leaf hash is
``SHA-256(0x00 || record_text)`` (RFC 6962). A sealed decision batch is one event whose payload
carries the RFC 6962 root over its decisions, so the log covers every decision too.

A **checkpoint** is the C2SP tlog-checkpoint ``<origin>\\n<size>\\n<base64 root>\\n`` signed as an
Ed25519 note with the workspace's signing key (never stored in the database). The checkpointer
runs after a transaction that appended events has committed (:func:`install_checkpointing`):
at once after a deployment change or when no checkpoint exists yet, else when
``checkpoint_every_events`` events or ``checkpoint_every_seconds`` have passed since the last
one. It extends the last checkpoint's compact range with the new leaves, records the perfect
subtrees it completes (``audit_tree``, for O(log n) proofs), signs, hands the checkpoint and the
entries it covers to every anchor (witnesses first, their cosignatures added to the note), and
records what happened (``audit_checkpoints``). An anchor that fails is logged and recorded; the
business transaction has committed already and is never undone by it.

Example::

    checkpointer = install_checkpointing(ctx.store, ctx.settings.audit, ctx.clock)
    checkpointer.checkpoint("manual")    # CheckpointResult(size=…, root=…, anchored=[…])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskops.audit.anchors import Anchor, AnchorError, Publication, anchor_from_config
from riskops.audit.chain import ChainEvent, record_bytes
from riskops.audit.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from riskops.audit.note import Checkpoint, Signer, Verifier, load_signer, sign_note
from riskops.config import AuditSettings
from riskops.errors import ConfigError
from riskops.store import Store
from riskops.store.rows import insert_rows, placeholder, stream_rows
from riskops.store.tables import (
    AuditCheckpointRecord,
    AuditHeadRecord,
    AuditTreeNode,
)

log = logging.getLogger(__name__)

_dumps = orjson.dumps
_LOCK_KEY = 0x7269736B6F7073  # PostgreSQL advisory lock: one checkpointer at a time
_BATCH = 5000
# Actions after which a checkpoint is made at once.
IMMEDIATE_ACTIONS = ("deployment.",)
ENTRY_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "role",
    "action",
    "object_type",
    "object_id",
    "payload",
    "prev_hash",
    "hash",
)


def event_leaf(event: ChainEvent) -> bytes:
    """The bytes of ``event``'s leaf in the log: its canonical record text in UTF-8."""
    return record_bytes(
        event.seq,
        event.occurred_at,
        event.actor,
        event.role,
        event.action,
        event.object_type,
        event.object_id,
        event.payload,
        event.prev_hash,
    )


def events_between(session: Session, after: int, upto: int) -> Iterator[ChainEvent]:
    """Events ``after < seq <= upto`` in order, streamed."""
    for row in event_rows(session, after, upto):
        yield ChainEvent(*row)


def event_rows(session: Session, after: int, upto: int) -> Iterator[tuple[Any, ...]]:
    """:func:`events_between` as plain tuples in ``ENTRY_FIELDS`` order, straight from the
    driver (the checkpointer's and the verifier's path: no per-value processing)."""
    mark = placeholder(session)
    return stream_rows(
        session,
        f"SELECT {', '.join(ENTRY_FIELDS)} FROM audit_events "  # noqa: S608
        f"WHERE seq > {mark} AND seq <= {mark} ORDER BY seq",
        (after, upto),
        batch=_BATCH,
    )


def entry_line(event: ChainEvent) -> bytes:
    """One event as a JSON Lines entry (every stored field verbatim), for anchors and export."""
    return orjson.dumps({name: getattr(event, name) for name in ENTRY_FIELDS}) + b"\n"


class StoredNodes:
    """A NodeSource over ``audit_tree``, with the nodes a checkpoint in progress adds on top."""

    def __init__(self, session: Session, extra: Mapping[tuple[int, int], bytes] | None = None):
        self.session = session
        self.extra = dict(extra or {})

    def __call__(self, level: int, index: int) -> bytes:
        found = self.extra.get((level, index))
        if found is not None:
            return found
        value = self.session.scalar(
            select(AuditTreeNode.hash).where(
                AuditTreeNode.level == level, AuditTreeNode.idx == index
            )
        )
        if value is None:
            raise LookupError(
                f"the audit log has no node at level {level}, index {index}: no checkpoint "
                "covers it yet (riskops audit checkpoint)"
            )
        return bytes(value)


@dataclass(frozen=True)
class CheckpointResult:
    """A checkpoint made: its size, root (hex), signed note and what each anchor said."""

    size: int
    root: str
    note: str
    reason: str
    anchored: list[str]
    failures: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root,
            "note": self.note,
            "reason": self.reason,
            "anchored": self.anchored,
            "failures": self.failures,
        }


def verifiers_of(settings: AuditSettings) -> list[Verifier]:
    """The pinned verifier keys of ``settings`` (ConfigError naming a malformed one)."""
    from riskops.audit.note import NoteError

    verifiers = []
    for key in settings.verifier_keys:
        try:
            verifiers.append(Verifier.parse(key))
        except NoteError as exc:
            raise ConfigError(
                f"[audit] verifier_keys holds {key!r}, which is not a verifier key: {exc}.",
                hint="Copy the line riskops audit keygen printed: <name>+<key id>+<key>",
            ) from exc
    return verifiers


def anchors_of(settings: AuditSettings) -> list[Anchor]:
    """The anchors ``settings`` configures, witnesses first (their cosignatures go into the
    note the other anchors keep)."""
    anchors = [anchor_from_config(table, base=settings.base) for table in settings.anchors]
    return sorted(anchors, key=lambda a: a.readable)


class Checkpointer:
    """Makes checkpoints for one store; see the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: AuditSettings,
        signer: Signer,
        anchors: Sequence[Anchor] | None,
        clock: Callable[[], datetime],
    ) -> None:
        if not settings.origin:
            raise ConfigError(
                "[audit] has a signing key but no origin: checkpoints need the log's name.",
                hint='Add to riskops.toml: [audit] origin = "bank.example/riskops/production"',
            )
        self.store = store
        self.settings = settings
        self.origin = settings.origin
        self.signer = signer
        # Every checkpoint is signed by the key and by each key being rotated in or out.
        self.signers = [signer] + [
            extra
            for extra in (
                load_signer(key_file=path, environ={}) for path in settings.also_sign_with
            )
            if extra is not None
        ]
        # Built on the first checkpoint when not given: opening a workspace contacts no
        # anchor (an S3 anchor checks its bucket's Object Lock when it is made).
        self._anchors = list(anchors) if anchors is not None else None
        self.clock = clock
        self._last: tuple[int, float] | None = None  # (size, monotonic time) of our last one

    def anchors(self) -> list[Anchor]:
        """The anchors, witnesses first (made on first use)."""
        if self._anchors is None:
            self._anchors = anchors_of(self.settings)
        return self._anchors

    def due(self, actions: Sequence[str]) -> str | None:
        """Why a checkpoint is due after a commit that appended ``actions``, or None."""
        if any(a.startswith(IMMEDIATE_ACTIONS) for a in actions):
            return "deployment"
        if self._last is None:
            with self.store.reading() as session:
                last = self._last_record(session)
                head = session.get(AuditHeadRecord, 1)
            if last is None:
                return "first"
            self._last = (last.size, time.monotonic())
            head_seq = head.seq if head is not None else 0
            if head_seq - last.size >= self.settings.every_events:
                return "events"
            return None
        size, made = self._last
        with self.store.reading() as session:
            head = session.get(AuditHeadRecord, 1)
        head_seq = head.seq if head is not None else 0
        if head_seq - size >= self.settings.every_events:
            return "events"
        if head_seq > size and time.monotonic() - made >= self.settings.every_seconds:
            return "interval"
        return None

    def after_commit(self, actions: list[str]) -> None:
        """The store's hook: checkpoint when due; never raises (the commit stands)."""
        try:
            reason = self.due(actions)
            if reason is not None:
                self.checkpoint(reason)
        except Exception as exc:  # the events are committed; the next commit tries again
            log.warning("audit checkpoint failed: %s", exc)

    def _last_record(self, session: Session) -> AuditCheckpointRecord | None:
        return session.scalars(
            select(AuditCheckpointRecord)
            .where(AuditCheckpointRecord.origin == self.origin)
            .order_by(AuditCheckpointRecord.size.desc(), AuditCheckpointRecord.id.desc())
            .limit(1)
        ).first()

    def checkpoint(self, reason: str = "manual") -> CheckpointResult | None:
        """Sign and anchor a checkpoint over every committed event; None when the newest
        checkpoint already covers them all."""
        try:
            with self.store.transaction() as session:
                return self._checkpoint(session, reason)
        except IntegrityError:
            # Another process made the same checkpoint between our read and our insert.
            log.info("audit checkpoint: another process made it first")
            return None

    def _checkpoint(self, session: Session, reason: str) -> CheckpointResult | None:
        if self.store.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        last = self._last_record(session)
        head = session.get(AuditHeadRecord, 1)
        size = head.seq if head is not None else 0
        start = last.size if last is not None else 0
        if size <= start:
            return None
        compact = CompactRange(start, [bytes.fromhex(h) for h in last.frontier] if last else [])
        new_nodes: dict[tuple[int, int], bytes] = {}
        entries = bytearray()
        for row in event_rows(session, start, size):
            for level, index, node in compact.append(leaf_hash(record_bytes(*row[:9]))):
                new_nodes[level, index] = node
            entries += _dumps(dict(zip(ENTRY_FIELDS, row, strict=True))) + b"\n"
        if compact.size != size:
            raise RuntimeError(
                f"the audit head says {size} events but {compact.size} are stored: run "
                "riskops audit verify"
            )
        root = compact.root()
        body = Checkpoint(self.origin, size, root).body()
        note = sign_note(body, self.signers)
        nodes = StoredNodes(session, new_nodes)
        publication = Publication(
            origin=self.origin,
            size=size,
            note=note,
            first=start,
            entries=bytes(entries),
            consistency=lambda old: consistency_proof(old, size, nodes),
        )
        anchored: list[str] = []
        failures: dict[str, str] = {}
        for anchor in self.anchors():
            try:
                extra = anchor.publish(publication)
            except AnchorError as exc:
                failures[anchor.name] = str(exc)
                log.warning(
                    "audit anchor %s did not take checkpoint %d: %s", anchor.name, size, exc
                )
                continue
            anchored.append(anchor.name)
            if extra:
                note = note + extra if note.endswith("\n") else note + "\n" + extra
                publication = Publication(
                    origin=publication.origin,
                    size=size,
                    note=note,
                    first=start,
                    entries=publication.entries,
                    consistency=publication.consistency,
                )
        insert_rows(
            session,
            "audit_tree",
            ("level", "idx", "hash"),
            [(level, index, node) for (level, index), node in new_nodes.items()],
        )
        session.add(
            AuditCheckpointRecord(
                origin=self.origin,
                size=size,
                root=root.hex(),
                frontier=[h.hex() for h in compact.hashes],
                note=note,
                reason=reason,
                anchored=anchored,
                failures=failures,
                created_at=self.clock(),
            )
        )
        self._last = (size, time.monotonic())
        return CheckpointResult(size, root.hex(), note, reason, anchored, failures)


def signer_of(settings: AuditSettings) -> Signer | None:
    """The signing key: RISKOPS_AUDIT_SIGNING_KEY, else the key file; None when neither."""
    environ = {"RISKOPS_AUDIT_SIGNING_KEY": settings.signing_key} if settings.signing_key else {}
    key_file = settings.signing_key_file
    if key_file is not None and not Path(key_file).exists() and not environ:
        return None
    return load_signer(key_file=key_file, environ=environ)


def make_checkpointer(
    store: Store, settings: AuditSettings | None, clock: Callable[[], datetime]
) -> Checkpointer | None:
    """A checkpointer for ``store`` when ``settings`` name a signing key, else None."""
    if settings is None:
        return None
    signer = signer_of(settings)
    if signer is None:
        return None
    return Checkpointer(store, settings, signer, None, clock)


def install_checkpointing(
    store: Store, settings: AuditSettings | None, clock: Callable[[], datetime]
) -> Checkpointer | None:
    """Checkpoint after every commit that appends events, when due (module docstring)."""
    checkpointer = make_checkpointer(store, settings, clock)
    if checkpointer is not None:
        store.after_audit_commit.append(checkpointer.after_commit)
    return checkpointer


# -- proofs ----------------------------------------------------------------------------------


def event_inclusion(session: Session, seq: int, size: int) -> list[bytes]:
    """The inclusion proof of event ``seq`` in the log of ``size`` events (a checkpointed size)."""
    return inclusion_proof(seq - 1, size, StoredNodes(session))


__all__ = [
    "CheckpointResult",
    "Checkpointer",
    "StoredNodes",
    "anchors_of",
    "entry_line",
    "event_inclusion",
    "event_leaf",
    "event_rows",
    "events_between",
    "install_checkpointing",
    "make_checkpointer",
    "signer_of",
    "verifiers_of",
]
