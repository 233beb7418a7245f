"""Attachments: the documents only the provider or a deployer can write, filed with a version.

The EU declaration of conformity (Art. 47, Annex IV point 8) is drawn up and signed by the
provider; the fundamental-rights impact assessment (Art. 27) is a deployer's. riskops cannot
generate either, but it can keep them with the version they are about and prove later that the
file it holds is the one that was filed: :func:`attach` copies the file into the workspace
(``<home>/attachments/<model>/v<version>/``) and records a ``document.attached`` audit event
with its kind, name, size and sha256, so the record is in the hash chain (no table of its own).
The Annex IV pack lists every attachment with its digest, re-hashes the stored copy
(:func:`check_attachments`) and names the kinds still missing.

Example::

    attach(ctx, ModelRef("credit-scoring", 3), Path("doc.pdf"),
           kind="declaration_of_conformity", actor="rita")
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.documents.records import DocumentRecords, gather_records
from riskops.errors import InputError
from riskops.governance.roles import require_actor, require_role
from riskops.registry.versions import ModelRef, get_version

ACTION = "document.attached"
KINDS: dict[str, str] = {
    "declaration_of_conformity": "EU declaration of conformity (Art. 47; Annex IV point 8)",
    "fria": "fundamental-rights impact assessment by a deployer (Art. 27)",
    "other": "other document filed by the provider",
}
"""The kinds of attachment and what each is."""
EXPECTED: dict[str, tuple[str, ...]] = {"credit": ("declaration_of_conformity", "fria")}
"""The kinds the Annex IV pack expects for a model of each kind (high-risk only)."""
FOLDER = "attachments"

Verdict = Literal["verified", "missing", "mismatch", "unchecked"]


@dataclass(frozen=True)
class Attachment:
    """One filed document, as its audit event records it."""

    kind: str
    name: str
    sha256: str
    size: int
    stored: str
    actor: str
    at: str
    seq: int

    @property
    def kind_text(self) -> str:
        return KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class AttachmentCheck:
    """An attachment and what re-hashing its stored copy found."""

    attachment: Attachment
    verdict: Verdict
    found_sha256: str | None = None

    @property
    def text(self) -> str:
        if self.verdict == "verified":
            return "stored copy re-hashed: matches"
        if self.verdict == "missing":
            return "the stored copy is missing"
        if self.verdict == "mismatch":
            return (
                f"MISMATCH: the stored copy hashes to {self.found_sha256}, not the recorded "
                "sha256; it was changed after it was filed"
            )
        return "not re-hashed (rendered without the workspace)"


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned[:120] or "attachment"


def attach(ctx: Context, ref: ModelRef, path: Path, *, kind: str, actor: str | None) -> Attachment:
    """File ``path`` as an attachment of ``ref`` of ``kind`` (:data:`KINDS`), by ``actor``.

    InputError for an unknown kind or a path that is not a file, NotFoundError for an unknown
    version, PermissionDeniedError for a person without the developer, validator or risk
    officer role.
    """
    who = require_actor(actor)
    if kind not in KINDS:
        raise InputError(
            f"Unknown attachment kind {kind!r}; it is one of: {', '.join(KINDS)}.",
            hint=f"riskops documents attach {ref} FILE --kind declaration_of_conformity --as {who}",
        )
    source = path.expanduser()
    if not source.is_file():
        raise InputError(
            f"{path} is not a file, so it cannot be attached to {ref}.",
            hint="Name the document's file, e.g. declaration-of-conformity.pdf",
        )
    role = require_role(
        ctx.settings,
        who,
        Role.RISK_OFFICER,
        Role.VALIDATOR,
        Role.DEVELOPER,
        doing=f"attach a document to {ref}",
    )
    data = source.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = source.name
    stored = f"{FOLDER}/{ref.name}/v{ref.version}/{digest[:16]}-{_safe_name(name)}"
    now = ctx.clock()
    with ctx.store.transaction() as session:
        get_version(session, ref)  # NotFoundError names the latest version
        target = ctx.settings.home / stored
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        event = record(
            session,
            actor=who,
            role=role.value,
            action=ACTION,
            object_type="model_version",
            object_id=str(ref),
            payload={
                "kind": kind,
                "name": name,
                "sha256": digest,
                "size": len(data),
                "stored": stored,
            },
            at=now,
        )
    return Attachment(kind, name, digest, len(data), stored, who, event.occurred_at, event.seq)


def attachments_of(r: DocumentRecords) -> tuple[Attachment, ...]:
    """The attachments of the documented version, oldest first, from its audit events."""
    found = []
    for e in r.events:
        if e.action != ACTION:
            continue
        p = e.payload
        found.append(
            Attachment(
                kind=str(p.get("kind", "other")),
                name=str(p.get("name", "")),
                sha256=str(p.get("sha256", "")),
                size=int(p.get("size", 0) or 0),
                stored=str(p.get("stored", "")),
                actor=e.actor,
                at=e.occurred_at,
                seq=e.seq,
            )
        )
    return tuple(found)


def check_attachments(r: DocumentRecords, home: Path | None) -> tuple[AttachmentCheck, ...]:
    """Every attachment of ``r`` with its stored copy re-hashed under ``home`` (the workspace);
    ``unchecked`` when no home is given."""
    checks = []
    for a in attachments_of(r):
        if home is None:
            checks.append(AttachmentCheck(a, "unchecked"))
            continue
        path = home / a.stored
        if not a.stored or not path.is_file():
            checks.append(AttachmentCheck(a, "missing"))
            continue
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        checks.append(
            AttachmentCheck(a, "verified" if found == a.sha256 else "mismatch", found_sha256=found)
        )
    return tuple(checks)


def verify_attachments(ctx: Context, ref: ModelRef) -> tuple[AttachmentCheck, ...]:
    """Re-hash the stored copy of every document filed with ``ref``; NotFoundError for an
    unknown version."""
    return check_attachments(gather_records(ctx, ref), ctx.settings.home)


def missing_kinds(r: DocumentRecords) -> tuple[str, ...]:
    """The kinds the pack expects for the model's kind that no attachment has yet."""
    kind = r.spec.kind if r.spec is not None else "credit"
    have = {a.kind for a in attachments_of(r)}
    return tuple(k for k in EXPECTED.get(kind, ()) if k not in have)
