"""The signed checkpoints of the audit log that cover one version's records, as the documents
cite them under Art. 12 (record-keeping) and Art. 15 (accuracy, robustness, cybersecurity).

A checkpoint of size ``n`` commits to audit events 1..n, so it covers a version's records from
the version's ``version.registered`` event (seq ``s``) onward when ``n >= s``. The text says only
what the ``audit_checkpoints`` rows say: how many, the first and the newest (size, root, time,
the anchors that took it) and the log origin; with none, that the records are integrity-checked
only, not anchored.

Example::

    found = version_checkpoints(session, registered_seq=12)
    found.sentence(head_seq=40)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.documents.locations import public_location
from riskops.store.tables import AuditCheckpointRecord

NONE_YET = (
    "no signed checkpoint covers this version yet: its records are integrity-checked only, "
    "not anchored"
)


@dataclass(frozen=True)
class CheckpointRow:
    """An ``audit_checkpoints`` row, as the documents cite it."""

    id: int
    origin: str
    size: int
    root: str
    anchored: tuple[str, ...]
    created_at: datetime
    key_ids: tuple[str, ...] = ()
    """The signing keys' ids (hex), read from the note's signature lines."""

    def described(self) -> str:
        anchors = (
            ", ".join(public_location(a, keep=2) for a in self.anchored)
            if self.anchored
            else "no anchor"
        )
        return (
            f"size {self.size}, root {self.root[:16]}, signed "
            f"{self.created_at:%Y-%m-%d %H:%M:%S} UTC, taken by {anchors}"
        )


@dataclass(frozen=True)
class VersionCheckpoints:
    """The checkpoints covering a version (oldest first), from its registration event on."""

    registered_seq: int | None
    rows: tuple[CheckpointRow, ...] = ()

    @property
    def first(self) -> CheckpointRow | None:
        return self.rows[0] if self.rows else None

    @property
    def newest(self) -> CheckpointRow | None:
        return self.rows[-1] if self.rows else None

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.origin for r in self.rows))

    def sentence(self, *, head_seq: int | None = None) -> str:
        """What the records say about the checkpoints of this version, in one paragraph."""
        first, newest = self.first, self.newest
        if self.registered_seq is None:
            return (
                "No version.registered audit event is recorded for this version, so no signed "
                "checkpoint can be tied to its records: they are integrity-checked only, not "
                "anchored."
            )
        if first is None or newest is None:
            return NONE_YET[0].upper() + NONE_YET[1:] + "."
        origins = " and ".join(self.origins)
        count = len(self.rows)
        text = (
            f"{count} signed checkpoint{'s' if count != 1 else ''} of the audit log "
            f"{origins} cover{'s' if count == 1 else ''} this version's records from its "
            f"registration (audit event #{self.registered_seq}) on"
        )
        if count == 1:
            text += f": {first.described()}."
        else:
            text += f"; the first: {first.described()}; the newest: {newest.described()}."
        if head_seq is not None and head_seq == newest.size + 1:
            text += f" Audit event #{head_seq} is not covered by a signed checkpoint yet."
        elif head_seq is not None and head_seq > newest.size:
            text += (
                f" Audit events #{newest.size + 1}–#{head_seq} are not covered by a signed "
                "checkpoint yet."
            )
        return text

    def cited(self) -> str:
        """The rows cited, e.g. ``audit_checkpoints #3, #9``."""
        return "audit_checkpoints " + ", ".join(f"#{r.id}" for r in self.rows) if self.rows else ""


def version_checkpoints(session: Session, registered_seq: int | None) -> VersionCheckpoints:
    """The ``audit_checkpoints`` rows whose size reaches ``registered_seq``, oldest first."""
    if registered_seq is None:
        return VersionCheckpoints(None)
    rows: Sequence[AuditCheckpointRecord] = session.scalars(
        select(AuditCheckpointRecord)
        .where(AuditCheckpointRecord.size >= registered_seq)
        .order_by(AuditCheckpointRecord.size, AuditCheckpointRecord.id)
    ).all()
    return VersionCheckpoints(
        registered_seq,
        tuple(
            CheckpointRow(
                id=r.id,
                origin=r.origin,
                size=r.size,
                root=r.root,
                anchored=tuple(str(a) for a in r.anchored or ()),
                created_at=r.created_at,
                key_ids=signing_key_ids(r.note),
            )
            for r in rows
        ),
    )


def signing_key_ids(note: str) -> tuple[str, ...]:
    """The key ids (4 bytes, hex) of a signed note's signatures: each signature line is
    ``— <key name> <base64(key id || signature)>`` after the blank line that ends the body."""
    ids = []
    for line in note.splitlines():
        if not line.startswith("\u2014 "):
            continue
        parts = line.split(" ")
        try:
            raw = base64.b64decode(parts[-1], validate=True)
        except (ValueError, binascii.Error):
            continue
        if len(raw) > 4:
            ids.append(f"{parts[1]}+{raw[:4].hex()}" if len(parts) >= 3 else raw[:4].hex())
    return tuple(dict.fromkeys(ids))
