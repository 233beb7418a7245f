"""``riskops audit verify``: everything that can be checked, from the store and the anchors.

1. The head row exists whenever anything was ever recorded, and the chain ends at it.
2. The chain: contiguous sequence numbers, every link and hash, times never backwards.
3. The Merkle log rebuilt from the stored events; the checkpoints read back **from the anchors
   only** (never from the store), their signatures checked against the pinned verifier keys,
   a checkpoint counted when ``quorum`` readable anchors hold it. For each anchored checkpoint:
   the store holds at least that many events and the root of that many leaves is the signed
   root. Two checkpoints of one size with different roots are a fork. Events after the newest
   anchored checkpoint are the unanchored tail, dated no earlier than the last event that
   checkpoint covers; the tail's oldest event must be younger than
   ``max_checkpoint_age_seconds``.
4. Every decision batch against its sealed root (:func:`riskops.decisions.sealing
   .verify_decisions` is called by the shell: decisions sit above this package).
5. Lifecycle rows against the events that made them (:mod:`riskops.audit.lifecycle`).

Without anchors configured the result is "integrity only, not anchored", never a plain pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from riskops.audit.chain import GENESIS_HASH, record_bytes
from riskops.audit.log import ENTRY_FIELDS, anchors_of, verifiers_of
from riskops.audit.note import Checkpoint, NoteError, Verifier, open_note
from riskops.audit.parallel import PARALLEL_MIN_EVENTS, parallel_walk
from riskops.config import AuditSettings
from riskops.store import Store
from riskops.store.rows import stream_rows
from riskops.store.tables import AuditHeadRecord

_BATCH = 10000

STATUS_ANCHORED = "verified-anchored"
STATUS_INTEGRITY_ONLY = "integrity-only"
STATUS_BROKEN = "broken"


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """A checkpoint read back from the anchors, with the anchors that hold it."""

    size: int
    root: str
    anchors: list[str]
    signers: list[str]
    note: str = field(default="", repr=False)  # one signed note as an anchor holds it

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "root": self.root,
            "anchors": self.anchors,
            "signers": self.signers,
        }


@dataclass
class AuditReport:
    """What ``riskops audit verify`` found; ``problems`` are sentences an examiner reads."""

    status: str
    events: int  # events that verify in order (all of them when nothing is broken)
    head_seq: int | None
    head_hash: str | None
    problems: list[str] = field(default_factory=list)
    first_broken_seq: int | None = None
    checkpoints: list[AnchoredCheckpoint] = field(default_factory=list)
    anchored_size: int = 0
    unanchored_tail: int = 0
    anchor_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stored: int = 0  # events in the store
    processes: int = 1  # processes that walked the events (riskops.audit.parallel)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str | None:
        """The first problem found, or None."""
        return self.problems[0] if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "events": self.events,
            "stored_events": self.stored,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "problems": self.problems,
            "reason": self.problems[0] if self.problems else None,
            "checkpoints": [c.as_dict() for c in self.checkpoints],
            "anchored_size": self.anchored_size,
            "unanchored_tail": self.unanchored_tail,
            "anchor_errors": self.anchor_errors,
            "notes": self.notes,
            "processes": self.processes,
        }


@dataclass
class _Walk:
    """The one pass over the stored events."""

    count: int = 0
    prev: str = GENESIS_HASH
    last_time: str = ""
    broken_at: int | None = None
    problems: list[str] = field(default_factory=list)
    roots: dict[int, bytes] = field(default_factory=dict)
    times: dict[int, str] = field(default_factory=dict)
    tail_first_time: str | None = None
    intact: int | None = None  # events that verify before the first broken one
    processes: int = 1


def _walk(events: Iterable[Any], sizes: set[int], anchored_size: int) -> _Walk:
    """One pass: links, hashes and times of every event, and the log's root at each of
    ``sizes`` (an inlined compact range: the perfect-subtree roots on a stack).

    The leaf's bytes are :func:`riskops.audit.chain.record_bytes`, whose SHA-256 is the event's
    hash."""
    walk = _Walk()
    sha256 = hashlib.sha256
    stack: list[bytes] = []
    size = 0
    prev_ok = GENESIS_HASH
    last_time = ""
    for (
        seq,
        occurred_at,
        actor,
        role,
        action,
        object_type,
        object_id,
        payload,
        prev,
        hash_,
    ) in events:
        size += 1
        if walk.broken_at is None and (seq != size or prev != prev_ok or occurred_at < last_time):
            walk.prev, walk.last_time = prev_ok, last_time
            _check_link(walk, seq, occurred_at, prev, size)
            walk.intact = size - 1
        text = record_bytes(
            seq, occurred_at, actor, role, action, object_type, object_id, payload, prev
        )
        if sha256(text).hexdigest() != hash_ and walk.broken_at is None:
            walk.broken_at = seq
            walk.intact = size - 1
            walk.problems.append(f"event {seq} was altered: its content no longer matches its hash")
        node = sha256(b"\x00" + text).digest()
        merges = size
        while not merges & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            merges >>= 1
        stack.append(node)
        prev_ok = hash_
        last_time = occurred_at if occurred_at > last_time else last_time
        if size in sizes:
            root = stack[-1]
            for left in reversed(stack[:-1]):
                root = sha256(b"\x01" + left + root).digest()
            walk.roots[size] = root
            walk.times[size] = occurred_at
        if size == anchored_size + 1:
            walk.tail_first_time = occurred_at
    walk.count = size
    walk.prev = prev_ok
    return walk


def _walk_in_parallel(
    store: Store, session: Any, head: Any, sizes: set[int], anchored_size: int
) -> _Walk | None:
    """:func:`riskops.audit.parallel.parallel_walk` when the store holds exactly the events
    its head names (else, or when it finds anything, None: the one-process walk names it)."""
    if head is None or head.seq < PARALLEL_MIN_EVENTS:
        return None
    count, newest = session.execute(text("SELECT count(*), max(seq) FROM audit_events")).one()
    if count != head.seq or newest != head.seq:
        return None
    walked = parallel_walk(store.read_engine, head.seq, head.hash, sizes, anchored_size)
    if walked is None:
        return None
    return _Walk(
        count=walked.count,
        prev=walked.prev,
        roots=walked.roots,
        times=walked.times,
        tail_first_time=walked.tail_first_time,
        processes=walked.processes,
    )


def _check_link(walk: _Walk, seq: int, occurred_at: str, prev: str, expected: int) -> None:
    if seq != expected:
        walk.broken_at = min(seq, expected)
        if seq > expected:
            walk.problems.append(f"event {expected} is missing (the next stored event is {seq})")
        else:
            walk.problems.append(f"event {seq} appears out of order where event {expected} belongs")
        return
    if prev != walk.prev:
        walk.broken_at = seq
        walk.problems.append(f"event {seq} does not link to event {seq - 1} (prev_hash differs)")
        return
    if occurred_at < walk.last_time:
        walk.broken_at = seq
        walk.problems.append(
            f"event {seq} is dated {occurred_at}, before event {seq - 1} ({walk.last_time}): "
            "times never go backwards, so it was backdated or moved"
        )
        return
    walk.last_time = occurred_at


def read_anchored(
    settings: AuditSettings, verifiers: Sequence[Verifier]
) -> tuple[list[AnchoredCheckpoint], list[str], dict[str, str]]:
    """Checkpoints read from every readable anchor, signature-checked and counted against the
    quorum; with the problems found (forks, bad signatures) and anchors that could not be
    read."""
    from riskops.audit.anchors import AnchorError

    problems: list[str] = []
    errors: dict[str, str] = {}
    held: dict[tuple[int, str], tuple[set[str], set[str]]] = {}
    notes_of: dict[tuple[int, str], str] = {}
    readable = [a for a in anchors_of(settings) if a.readable]
    for anchor in readable:
        try:
            notes = anchor.checkpoints(settings.origin or "")
        except AnchorError as exc:
            errors[anchor.name] = f"could not be read: {exc}"
            continue
        damaged = getattr(anchor, "problems", ())
        if damaged:
            errors[anchor.name] = "read with damaged lines set aside: " + "; ".join(damaged)
        for note in notes:
            try:
                opened = open_note(note, verifiers)
                checkpoint = Checkpoint.parse(opened.text)
            except NoteError as exc:
                problems.append(
                    f"anchor {anchor.name} holds a checkpoint that no pinned key signed "
                    f"validly ({exc}): a forged or foreign checkpoint"
                )
                continue
            if checkpoint.origin != settings.origin:
                continue
            notes_of.setdefault((checkpoint.size, checkpoint.root.hex()), note)
            names, signers = held.setdefault(
                (checkpoint.size, checkpoint.root.hex()), (set(), set())
            )
            names.add(anchor.name)
            signers.update(v.name for v in opened.verified)
    by_size: dict[int, list[str]] = {}
    for size, root in held:
        by_size.setdefault(size, []).append(root)
    for size, roots in sorted(by_size.items()):
        if len(roots) > 1:
            problems.append(
                f"two checkpoints of size {size} with different roots were signed "
                f"({', '.join(r[:16] for r in sorted(roots))}): the log was forked or rewritten"
            )
    anchored = [
        AnchoredCheckpoint(size, root, sorted(names), sorted(signers), notes_of[size, root])
        for (size, root), (names, signers) in sorted(held.items())
        if len(names) >= settings.quorum
    ]
    return anchored, problems, errors


def verify_audit(
    store: Store,
    settings: AuditSettings | None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    parallel: bool = True,
) -> AuditReport:
    """Every check of the module docstring except decisions; see :class:`AuditReport`.
    ``parallel`` False keeps the walk in this process (:mod:`riskops.audit.parallel`)."""
    from riskops.audit.lifecycle import lifecycle_problems

    anchored_cfg = settings is not None and settings.anchored
    checkpoints: list[AnchoredCheckpoint] = []
    problems: list[str] = []
    errors: dict[str, str] = {}
    if anchored_cfg:
        assert settings is not None
        checkpoints, problems, errors = read_anchored(settings, verifiers_of(settings))
    sizes = {c.size for c in checkpoints}
    anchored_size = max(sizes, default=0)
    with store.reading() as session:
        head = session.get(AuditHeadRecord, 1)
        walk = (
            parallel and _walk_in_parallel(store, session, head, sizes, anchored_size)
        ) or _walk(_stored_rows(session), sizes, anchored_size)
        lifecycle = lifecycle_problems(session)
    report = AuditReport(
        status=STATUS_BROKEN,
        events=walk.count if walk.intact is None else walk.intact,
        head_seq=head.seq if head is not None else None,
        head_hash=head.hash if head is not None else None,
        checkpoints=checkpoints,
        anchored_size=anchored_size,
        anchor_errors=errors,
        stored=walk.count,
        processes=walk.processes,
    )
    report.problems += walk.problems
    report.first_broken_seq = walk.broken_at
    _check_head(report, walk, head, lifecycle_rows=bool(lifecycle) or walk.count > 0)
    for checkpoint in checkpoints:
        if checkpoint.size > walk.count:
            report.problems.append(
                f"the anchored checkpoint of size {checkpoint.size} (root {checkpoint.root[:16]}) "
                f"covers more events than the store holds ({walk.count}): events after "
                f"{walk.count} were deleted or the chain was cut"
            )
        elif walk.roots.get(checkpoint.size, b"").hex() != checkpoint.root:
            report.problems.append(
                f"the first {checkpoint.size} events no longer hash to the root of the anchored "
                f"checkpoint of size {checkpoint.size} ({checkpoint.root[:16]}): an event at or "
                f"before {checkpoint.size} was rewritten"
            )
    report.problems += problems
    report.problems += [p.reason for p in lifecycle]
    _check_tail(report, walk, settings, now())
    if anchored_cfg and not checkpoints and walk.count:
        report.problems.append(
            "no anchor holds a checkpoint signed by a pinned key, yet the store holds "
            f"{walk.count} events: the anchors were emptied or never written "
            "(riskops audit checkpoint makes one)"
        )
    if errors and anchored_cfg and len(checkpoints) == 0:
        report.notes.append("anchors that could not be read: " + ", ".join(sorted(errors)))
    if not anchored_cfg:
        report.notes.append(
            "integrity only, not anchored: no [audit] anchors and verifier keys are configured, "
            "so a rewrite by someone with write access to the database cannot be told apart "
            "(docs/anchors.md)"
        )
    if report.problems:
        report.status = STATUS_BROKEN
    elif anchored_cfg:
        report.status = STATUS_ANCHORED
    else:
        report.status = STATUS_INTEGRITY_ONLY
    return report


def _check_head(report: AuditReport, walk: _Walk, head: Any, *, lifecycle_rows: bool) -> None:
    if head is None:
        if lifecycle_rows or walk.count:
            report.problems.append(
                "the chain's head row is missing: it exists from the first migration, so it "
                "was deleted"
            )
        return
    if walk.broken_at is not None:
        return
    if head.seq != walk.count:
        if head.seq > walk.count:
            report.problems.append(
                f"the chain ends at event {walk.count} but its head records event {head.seq}: "
                "events were removed"
            )
            report.first_broken_seq = walk.count + 1
        else:
            report.problems.append(
                f"the chain runs to event {walk.count} past its recorded head {head.seq}"
            )
            report.first_broken_seq = head.seq + 1
    elif head.hash != (walk.prev if walk.count else head.hash):
        report.problems.append(f"the last event {walk.count} does not match the recorded head hash")
        report.first_broken_seq = walk.count


def _check_tail(
    report: AuditReport, walk: _Walk, settings: AuditSettings | None, now: datetime
) -> None:
    if not report.checkpoints:
        report.unanchored_tail = walk.count
        return
    report.unanchored_tail = max(0, walk.count - report.anchored_size)
    covered_time = walk.times.get(report.anchored_size)
    first = walk.tail_first_time
    if first is None or settings is None:
        return
    if covered_time is not None and first < covered_time:
        report.problems.append(
            f"event {report.anchored_size + 1} is dated {first}, before the last event of the "
            f"newest anchored checkpoint ({covered_time}): it was backdated"
        )
    age = (now - _parse_time(first)).total_seconds()
    if age > settings.max_age_seconds:
        report.problems.append(
            f"{report.unanchored_tail} events are not anchored, the oldest since {first} "
            f"({age / 3600:.1f} h, more than max_checkpoint_age_seconds = "
            f"{settings.max_age_seconds:g}): the checkpointer or the anchors stopped "
            "(riskops audit checkpoint)"
        )


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _stored_rows(session: Any) -> Iterable[Any]:
    """Every event as a plain tuple in chain order, streamed from the driver's own cursor (a
    named, server-side one on PostgreSQL): the ORM's rows cost more than the hashing."""
    return stream_rows(
        session,
        f"SELECT {', '.join(ENTRY_FIELDS)} FROM audit_events ORDER BY seq",  # noqa: S608
        batch=_BATCH,
    )
