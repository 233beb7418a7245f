"""Per-subject encryption keys, and erasure by deleting them (crypto-shredding).

Each subject (by pseudonym) has its own random 256-bit key, created on first use. The store
keeps it only wrapped by the workspace's key-encryption key (``kek``, see
:mod:`riskops.privacy.secrets`)::

    wrapped_key = nonce(12) || AES-256-GCM(kek, nonce, subject_key, associated_data=pseudonym)

so a wrapped key moved to another subject's row does not unwrap. A subject's personal values
(the features of a decision) are sealed with their key::

    nonce (12 random bytes), ciphertext = AES-256-GCM(subject_key, nonce,
                                                      canonical JSON of the features,
                                                      associated_data=pseudonym)

:meth:`SubjectKeys.erase_subject` deletes the key row and records ``subject.erased`` (object:
the pseudonym) in the audit chain in the same transaction. Every ciphertext of that subject
then stays in place — the decision log's Merkle roots and the audit chain still verify — but
can no longer be read. A subject seen again after erasure gets a new key, which does not open
the old ciphertexts.

Example::

    keys = SubjectKeys(store, secrets, clock)
    nonce, ciphertext = keys.encrypt_features(pseudonym(secrets, "C-10042"), {"age": 37})
    keys.decrypt_features(subject, nonce, ciphertext)  # {'age': 37}, or None once erased
    keys.erase_subject("C-10042", actor="oscar", role="operator")
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from riskops.audit.trail import record
from riskops.errors import IntegrityError
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import Store
from riskops.store.tables import SubjectKeyRecord, table_of

NONCE_BYTES = 12
KEY_BYTES = 32


def seal_features(key: bytes, subject: str, features: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """Encrypt ``features`` (canonical JSON) for ``subject`` (a pseudonym) with ``key``."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(
        features, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    return nonce, AESGCM(key).encrypt(nonce, plain, subject.encode("ascii"))


def open_features(key: bytes, subject: str, nonce: bytes, ciphertext: bytes) -> dict[str, Any]:
    """Decrypt what :func:`seal_features` sealed; raises ``InvalidTag`` under another key."""
    plain = AESGCM(key).decrypt(nonce, ciphertext, subject.encode("ascii"))
    value: dict[str, Any] = json.loads(plain)
    return value


def wrap_key(kek: bytes, subject: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, subject.encode("ascii"))


def unwrap_key(kek: bytes, subject: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject.encode("ascii")
        )
    except InvalidTag:
        raise IntegrityError(
            f"The stored key of subject {subject} does not unwrap with this workspace's secret.",
            hint="The row was moved or edited, or RISKOPS_SECRET_KEY / secret.key is not the "
            "secret this workspace was created with.",
        ) from None


class SubjectKeys:
    """The subject keys of one store. Safe to share between threads (it keeps no cache)."""

    def __init__(
        self, store: Store, secrets: WorkspaceSecrets, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.clock = clock

    def keys_for(
        self, session: Session, subjects: Iterable[str], *, create: bool = True
    ) -> dict[str, bytes]:
        """The keys of ``subjects`` (pseudonyms) inside the caller's transaction; with
        ``create``, a new key is stored for each subject that has none."""
        wanted = set(subjects)
        if not wanted:
            return {}
        rows = session.execute(
            select(SubjectKeyRecord.subject, SubjectKeyRecord.wrapped_key).where(
                SubjectKeyRecord.subject.in_(wanted)
            )
        ).all()
        keys = {
            subject: unwrap_key(self.secrets.kek, subject, wrapped) for subject, wrapped in rows
        }
        missing = sorted(wanted - keys.keys())
        if create and missing:
            now = self.clock()
            new_rows: list[dict[str, Any]] = []
            for subject in missing:
                key = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
                keys[subject] = key
                new_rows.append(
                    {
                        "subject": subject,
                        "wrapped_key": wrap_key(self.secrets.kek, subject, key),
                        "created_at": now,
                    }
                )
            # One multi-row INSERT through Core: a flush of decisions creates many keys at once.
            session.execute(insert(table_of(SubjectKeyRecord)), new_rows)
        return keys

    def encrypt_features(self, subject: str, features: Mapping[str, Any]) -> tuple[bytes, bytes]:
        """``(nonce, ciphertext)`` of ``features`` under the key of ``subject`` (a pseudonym),
        creating the key on first use."""
        with self.store.transaction() as session:
            key = self.keys_for(session, [subject])[subject]
        return seal_features(key, subject, features)

    def decrypt_features(
        self, subject: str, nonce: bytes, ciphertext: bytes
    ) -> dict[str, Any] | None:
        """The features, or None when the subject's key was erased (including when a newer key
        was made for the subject since)."""
        with self.store.reading() as session:
            key = self.keys_for(session, [subject], create=False).get(subject)
        if key is None:
            return None
        try:
            return open_features(key, subject, nonce, ciphertext)
        except InvalidTag:
            return None

    def erase_subject(self, subject_id: str, *, actor: str, role: str) -> bool:
        """Delete the subject's key and record ``subject.erased``; True if a key existed.

        The erasure is recorded either way, so that the request and its handling show in the
        audit trail even for a subject with nothing stored yet.
        """
        subject = pseudonym(self.secrets, subject_id)
        with self.store.transaction() as session:
            deleted = session.get(SubjectKeyRecord, subject) is not None
            session.execute(delete(SubjectKeyRecord).where(SubjectKeyRecord.subject == subject))
            record(
                session,
                actor=actor,
                role=role,
                action="subject.erased",
                object_type="subject",
                object_id=subject,
                payload={"key_deleted": bool(deleted)},
                at=self.clock(),
            )
        return bool(deleted)
