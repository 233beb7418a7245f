from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from riskops.audit import list_events, verify
from riskops.errors import IntegrityError
from riskops.privacy.keys import SubjectKeys
from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import Store, open_store
from riskops.store.tables import SubjectKeyRecord

FEATURES = {"age": 37, "purpose": "car", "income": 4120.5}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def keys(store: Store) -> SubjectKeys:
    return SubjectKeys(
        store, WorkspaceSecrets.from_secret(os.urandom(32)), lambda: datetime.now(UTC)
    )


def test_features_round_trip_under_a_key_made_on_first_use(keys: SubjectKeys) -> None:
    subject = pseudonym(keys.secrets, "C-1")
    nonce, ciphertext = keys.encrypt_features(subject, FEATURES)
    assert b"car" not in ciphertext
    assert keys.decrypt_features(subject, nonce, ciphertext) == FEATURES
    with keys.store.reading() as session:
        rows = session.scalars(select(SubjectKeyRecord)).all()
    assert [r.subject for r in rows] == [subject]
    # Only wrapped: nonce + 32-byte key + 16-byte tag, never the key itself.
    assert len(rows[0].wrapped_key) == 12 + 32 + 16
    with keys.store.reading() as session:
        key = keys.keys_for(session, [subject], create=False)[subject]
    assert key not in rows[0].wrapped_key


def test_a_wrapped_key_moved_to_another_subject_does_not_unwrap(keys: SubjectKeys) -> None:
    one, two = pseudonym(keys.secrets, "C-1"), pseudonym(keys.secrets, "C-2")
    keys.encrypt_features(one, FEATURES)
    keys.encrypt_features(two, FEATURES)
    with keys.store.transaction() as session:
        wrapped_one = session.get(SubjectKeyRecord, one)
        assert wrapped_one is not None
        session.execute(
            update(SubjectKeyRecord)
            .where(SubjectKeyRecord.subject == two)
            .values(wrapped_key=wrapped_one.wrapped_key)
        )
    with pytest.raises(IntegrityError, match=f"stored key of subject {two} does not unwrap"):
        keys.decrypt_features(two, b"\x00" * 12, b"\x00" * 32)


def test_erasure_shreds_the_features_and_is_audited(keys: SubjectKeys) -> None:
    subject = pseudonym(keys.secrets, "C-1")
    nonce, ciphertext = keys.encrypt_features(subject, FEATURES)
    assert keys.erase_subject("C-1", actor="oscar", role="operator") is True
    assert keys.decrypt_features(subject, nonce, ciphertext) is None
    # A new key for the same subject does not open what the erased key sealed.
    keys.encrypt_features(subject, {"age": 40})
    assert keys.decrypt_features(subject, nonce, ciphertext) is None
    events = list_events(keys.store, action="subject.erased")
    assert [(e.object_id, e.payload) for e in events] == [(subject, {"key_deleted": True})]
    assert "C-1" not in repr(events)
    assert verify(keys.store).ok


def test_erasing_an_unknown_subject_is_still_recorded(keys: SubjectKeys) -> None:
    assert keys.erase_subject("never-seen", actor="oscar", role="operator") is False
    (event,) = list_events(keys.store, action="subject.erased")
    assert event.payload == {"key_deleted": False}
