"""A head recorded outside the system (``--expect-head``): reading it, and checking that the
chain still contains it.

A head is accepted in every form riskops prints it:

- ``9c1e…`` the full 64-hex hash (``riskops audit head --json``'s ``hash``);
- ``9c1e5f0a7b3d2e41`` the 16-character head shown by ``riskops audit verify``;
- ``41 9c1e…`` the ``SEQ HASH`` line of ``riskops audit head``, or ``SEQ HASH16``;

in either case, with surrounding whitespace. A hash is 16 to 64 hex characters: shorter
prefixes could name more than one event, so they are refused.

With a sequence number the check is exact: the event at that position must still carry a hash
starting with the recorded one. Without, some event's hash must start with it.

Example::

    expected = parse_expected_head("41 9C1E5F0A7B3D2E41")
    with store.reading() as session:
        problem = expected_head_problem(
            expected, lambda seq: hash_at(session, seq), lambda p: hashes_starting(session, p)
        )
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit.chain import GENESIS_HASH
from riskops.errors import InputError
from riskops.store.tables import AuditEventRecord

MIN_PREFIX = 16
_HEAD = re.compile(r"(?:(?P<seq>\d+)[ \t]+)?(?P<hash>[0-9a-f]+)")
_FORMS = (
    "the full 64-character hash, the 16-character head shown by 'riskops audit verify', or "
    "the 'SEQ HASH' line of 'riskops audit head' (SEQ HASH16 also works)"
)


@dataclass(frozen=True)
class ExpectedHead:
    """A recorded head: its sequence number when known, and its hash or a prefix of it
    (lower-case hex, 16 to 64 characters)."""

    seq: int | None
    hash_prefix: str

    def __post_init__(self) -> None:
        if not (MIN_PREFIX <= len(self.hash_prefix) <= 64) or not re.fullmatch(
            r"[0-9a-f]+", self.hash_prefix
        ):
            raise InputError(
                f"A head hash is 16 to 64 lower-case hex characters, not {self.hash_prefix!r}.",
                hint=f"Give {_FORMS}.",
            )
        if self.seq is not None and self.seq < 0:
            raise InputError(f"A head's sequence number is 0 or more, not {self.seq}.")

    def __str__(self) -> str:
        shown = self.hash_prefix[:MIN_PREFIX] + ("…" if len(self.hash_prefix) > MIN_PREFIX else "")
        return shown if self.seq is None else f"{self.seq} {shown}"


def parse_expected_head(text: str) -> ExpectedHead:
    """Read a head in any form riskops prints (see the module docstring).

    >>> parse_expected_head("  41 9C1E5F0A7B3D2E41\\n")
    ExpectedHead(seq=41, hash_prefix='9c1e5f0a7b3d2e41')
    """
    cleaned = text.strip().lower()
    match = _HEAD.fullmatch(cleaned)
    if match is None:
        raise InputError(
            f"{_shown(text)} is not an audit head: expected {_FORMS}.",
            hint="Print the current head with: riskops audit head",
        )
    digest = match["hash"]
    if len(digest) < MIN_PREFIX:
        raise InputError(
            f"The head hash {digest!r} has {len(digest)} characters; at least {MIN_PREFIX} are "
            "needed, since a shorter prefix could match more than one event.",
            hint=f"Give {_FORMS}; riskops audit head prints it.",
        )
    if len(digest) > 64:
        raise InputError(
            f"The head hash {_shown(digest)} has {len(digest)} characters; a SHA-256 hash has 64.",
            hint=f"Give {_FORMS}; riskops audit head prints it.",
        )
    seq = int(match["seq"]) if match["seq"] is not None else None
    return ExpectedHead(seq=seq, hash_prefix=digest)


def expected_head_problem(
    expected: ExpectedHead,
    events_hash_at: Callable[[int], str | None],
    find_by_prefix: Callable[[str], list[tuple[int, str]]],
) -> str | None:
    """None when the chain still contains ``expected``, else one sentence saying why not.

    ``events_hash_at(seq)`` is the stored hash of event ``seq`` (None if there is none);
    ``find_by_prefix(prefix)`` the ``(seq, hash)`` of the events whose hash starts with
    ``prefix``.
    """
    prefix = expected.hash_prefix
    if expected.seq is not None:
        if expected.seq == 0:  # the head of an empty chain
            if GENESIS_HASH.startswith(prefix):
                return None
            return f"the anchored head {expected} is not a chain's head: event 0 is the genesis, 64 zeros"
        stored = events_hash_at(expected.seq)
        if stored is not None and stored.startswith(prefix):
            return None
        if stored is None:
            return (
                f"the anchored head {expected} is no longer in the chain: there is no event "
                f"{expected.seq} any more, so events at or before it were removed"
            )
        moved = [seq for seq, _ in find_by_prefix(prefix)]
        elsewhere = f" (a hash starting so is now at event {moved[0]})" if moved else ""
        return (
            f"the anchored head {expected} is no longer in the chain: the chain was rewritten "
            f"at or before event {expected.seq}{elsewhere}"
        )
    if find_by_prefix(prefix):
        return None
    if GENESIS_HASH.startswith(prefix):
        return None
    return (
        f"the anchored head {expected} is no longer in the chain: no event's hash starts with "
        "it, so the chain was rewritten at or before the event it named"
    )


def hash_at(session: Session, seq: int) -> str | None:
    """The stored hash of event ``seq``, or None."""
    return session.scalar(select(AuditEventRecord.hash).where(AuditEventRecord.seq == seq))


def hashes_starting(session: Session, prefix: str) -> list[tuple[int, str]]:
    """``(seq, hash)`` of every stored event whose hash starts with ``prefix`` (hex)."""
    if not re.fullmatch(r"[0-9a-f]*", prefix):  # keeps LIKE's wildcards out
        return []
    query = (
        select(AuditEventRecord.seq, AuditEventRecord.hash)
        .where(AuditEventRecord.hash.startswith(prefix))
        .order_by(AuditEventRecord.seq)
    )
    return [(seq, digest) for seq, digest in session.execute(query)]


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
