"""An insider with write access to the database, against signed, anchored checkpoints.

Each rewrite the examiner found passed ``riskops audit verify`` before checkpoints existed; here
each is caught once a checkpoint exists after the rewritten point, on SQLite and PostgreSQL.
Tampering goes around the refusing triggers the way an insider would: on SQLite by dropping
them (anyone with the file can), on PostgreSQL as a superuser in replica mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from riskops.audit.chain import GENESIS_HASH, event_hash
from riskops.audit.log import Checkpointer, anchors_of
from riskops.audit.note import Signer, write_key_file
from riskops.audit.trail import record
from riskops.audit.verification import (
    STATUS_ANCHORED,
    STATUS_BROKEN,
    STATUS_INTEGRITY_ONLY,
    verify_audit,
)
from riskops.config import AuditSettings
from riskops.store import Store, open_store

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ORIGIN = "bank.example/riskops/test"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return write_key_file(tmp_path / "audit.key", ORIGIN)


@pytest.fixture
def settings(tmp_path: Path, signer: Signer) -> AuditSettings:
    return AuditSettings(
        base=tmp_path,
        origin=ORIGIN,
        signing_key_file=tmp_path / "audit.key",
        verifier_keys=(signer.verifier().text(),),
        anchors=({"type": "file", "path": "anchors/checkpoints.jsonl"},),
        max_age_seconds=10**9,
    )


def checkpointer(store: Store, settings: AuditSettings, signer: Signer) -> Checkpointer:
    return Checkpointer(store, settings, signer, anchors_of(settings), lambda: T0)


def append(store: Store, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        with store.transaction() as session:
            record(
                session,
                actor="rita",
                role="risk_officer",
                action="monitoring.run",
                object_type="monitoring_run",
                object_id=f"credit-scoring/run-{i + 1}",
                payload={"note": f"approval {i}", "value": 0.5},
                at=T0 + timedelta(minutes=i),
            )


Statement = str | tuple[str, dict[str, object]]


def unguarded(store: Store, *statements: Statement) -> None:
    """Run SQL (with its parameters) around the refusing triggers, as an insider would."""
    with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            names = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, {})
            connection.execute(text(sql), params)


def rechain(store: Store, *, edit_seq: int, actor: str) -> None:
    """Edit one event and recompute every hash after it, and the head: the chain verifies."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT seq, occurred_at, actor, role, action, object_type, object_id, payload "
                "FROM audit_events ORDER BY seq"
            )
        ).all()
    prev = GENESIS_HASH
    statements: list[Statement] = []
    for seq, occurred_at, old_actor, role, action, object_type, object_id, payload in rows:
        who = actor if seq == edit_seq else old_actor
        digest = event_hash(
            seq=seq,
            occurred_at=occurred_at,
            actor=who,
            role=role,
            action=action,
            object_type=object_type,
            object_id=object_id,
            payload=payload,
            prev_hash=prev,
        )
        statements.append(
            (
                "UPDATE audit_events SET actor = :who, prev_hash = :prev, hash = :hash "
                "WHERE seq = :seq",
                {"who": who, "prev": prev, "hash": digest, "seq": seq},
            )
        )
        prev = digest
    statements.append(
        (
            "UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
            {"seq": len(rows), "hash": prev},
        )
    )
    unguarded(store, *statements)


@pytest.fixture
def anchored(store: Store, settings: AuditSettings, signer: Signer) -> Store:
    """Ten events, checkpointed after the fifth and the tenth."""
    append(store, 5)
    assert checkpointer(store, settings, signer).checkpoint("test") is not None
    append(store, 5, start=5)
    assert checkpointer(store, settings, signer).checkpoint("test") is not None
    report = verify_audit(store, settings)
    assert report.status == STATUS_ANCHORED, report.problems
    assert [c.size for c in report.checkpoints] == [5, 10]
    return store


def problems(store: Store, settings: AuditSettings) -> str:
    report = verify_audit(store, settings)
    assert report.status == STATUS_BROKEN
    assert not report.ok
    return " | ".join(report.problems)


def test_without_anchors_the_answer_is_integrity_only(store: Store, tmp_path: Path) -> None:
    append(store, 3)
    report = verify_audit(store, AuditSettings(base=tmp_path))
    assert report.ok
    assert report.status == STATUS_INTEGRITY_ONLY
    assert "integrity only, not anchored" in report.notes[0]
    assert verify_audit(store, None).status == STATUS_INTEGRITY_ONLY


def test_a_deleted_head_row_is_caught(anchored: Store, settings: AuditSettings) -> None:
    unguarded(anchored, "DELETE FROM audit_head")
    assert "head row is missing" in problems(anchored, settings)


def test_deleting_everything_is_caught(anchored: Store, settings: AuditSettings) -> None:
    unguarded(anchored, "DELETE FROM audit_events", "DELETE FROM audit_head")
    found = problems(anchored, settings)
    assert "covers more events than the store holds (0)" in found


def test_cutting_the_tail_and_moving_the_head_back_is_caught(
    anchored: Store, settings: AuditSettings
) -> None:
    with anchored.engine.connect() as connection:
        hash7 = connection.execute(text("SELECT hash FROM audit_events WHERE seq = 7")).scalar()
    unguarded(
        anchored,
        "DELETE FROM audit_events WHERE seq > 7",
        ("UPDATE audit_head SET seq = 7, hash = :hash WHERE id = 1", {"hash": hash7}),
    )
    assert "checkpoint of size 10" in problems(anchored, settings)


def test_a_rewrite_that_recomputes_every_hash_is_caught(
    anchored: Store, settings: AuditSettings
) -> None:
    rechain(anchored, edit_seq=3, actor="mallory")
    found = problems(anchored, settings)
    assert "no longer hash to the root of the anchored checkpoint of size 5" in found
    assert "size 10" in found


def test_a_rewrite_after_the_newest_checkpoint_is_caught_by_the_next(
    anchored: Store, settings: AuditSettings, signer: Signer
) -> None:
    append(anchored, 3, start=10)
    rechain(anchored, edit_seq=12, actor="mallory")
    # Not anchored yet: the chain itself verifies, the tail is reported.
    report = verify_audit(anchored, settings)
    assert report.ok
    assert report.unanchored_tail == 3
    # The next checkpoint signs the rewritten tail, and that is what it was: a later rewrite
    # of event 12 back, or of anything else, is now caught.
    checkpointer(anchored, settings, signer).checkpoint("test")
    rechain(anchored, edit_seq=12, actor="rita")
    assert "checkpoint of size 13" in problems(anchored, settings)


def test_a_forged_backdated_event_is_caught(anchored: Store, settings: AuditSettings) -> None:
    with anchored.engine.connect() as connection:
        prev = connection.execute(text("SELECT hash FROM audit_events WHERE seq = 10")).scalar()
    fields = {
        "seq": 11,
        "occurred_at": "2026-11-29T08:00:00.000000Z",
        "actor": "rita",
        "role": "risk_officer",
        "action": "version.approved",
        "object_type": "model_version",
        "object_id": "credit-scoring@99",
        "payload": "{}",
        "prev_hash": prev,
    }
    forged = event_hash(**fields)  # type: ignore[arg-type]
    columns = ", ".join(fields)
    marks = ", ".join(f":{name}" for name in fields)
    unguarded(
        anchored,
        (
            f"INSERT INTO audit_events ({columns}, hash) VALUES ({marks}, :hash)",  # noqa: S608
            {**fields, "hash": forged},
        ),
        ("UPDATE audit_head SET seq = 11, hash = :hash WHERE id = 1", {"hash": forged}),
    )
    assert "backdated" in problems(anchored, settings)


def test_a_checkpoint_signed_by_another_key_is_refused(
    anchored: Store, settings: AuditSettings, tmp_path: Path
) -> None:
    forger = Signer.generate(ORIGIN)
    rechain(anchored, edit_seq=2, actor="mallory")
    Checkpointer(anchored, settings, forger, anchors_of(settings), lambda: T0).checkpoint("x")
    found = problems(anchored, settings)
    assert "no pinned key signed" in found or "size 5" in found


def test_emptied_anchors_are_caught(anchored: Store, settings: AuditSettings) -> None:
    (settings.base / "anchors" / "checkpoints.jsonl").write_text("", encoding="utf-8")
    assert "no anchor holds a checkpoint" in problems(anchored, settings)


def test_a_stale_anchor_is_reported(
    anchored: Store, settings: AuditSettings, tmp_path: Path
) -> None:
    append(anchored, 2, start=10)
    strict = AuditSettings(**{**settings.__dict__, "max_age_seconds": 60})
    # Two hours on (PostgreSQL stamps events with its own clock, SQLite with T0's).
    later = max(datetime.now(UTC), T0) + timedelta(hours=2)
    report = verify_audit(anchored, strict, now=lambda: later)
    assert report.status == STATUS_BROKEN
    assert "2 events are not anchored" in " | ".join(report.problems)


def test_checkpoints_are_rfc6962_roots_of_the_event_records(
    anchored: Store, settings: AuditSettings
) -> None:
    """The root of the first five leaves, computed here from the spec, is the signed one."""
    with anchored.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings().all()
    from riskops.audit.chain import record_text

    leaves = []
    for row in rows[:5]:
        fields = {k: v for k, v in row.items() if k != "hash"}
        data = record_text(**fields).encode()
        assert hashlib.sha256(data).hexdigest() == row["hash"]
        leaves.append(hashlib.sha256(b"\x00" + data).digest())

    def mth(hashes: list[bytes]) -> bytes:
        if len(hashes) == 1:
            return hashes[0]
        k = 1
        while k * 2 < len(hashes):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()

    report = verify_audit(anchored, settings)
    assert report.checkpoints[0].root == mth(leaves).hex()


def test_a_key_rotation_signs_with_both_keys_for_the_overlap(
    store: Store, settings: AuditSettings, signer: Signer, tmp_path: Path
) -> None:
    """Old and new key sign every checkpoint of the overlap; a verifier that pinned either one
    accepts them, and once the old key is dropped, checkpoints verify under the new key alone."""
    new = write_key_file(tmp_path / "audit-2027.key", ORIGIN)
    overlap = AuditSettings(
        **{**settings.__dict__, "also_sign_with": (tmp_path / "audit-2027.key",)}
    )
    append(store, 3)
    checkpointer(store, overlap, signer).checkpoint("rotation")
    for pinned in ((signer.verifier().text(),), (new.verifier().text(),)):
        pinned_settings = AuditSettings(**{**settings.__dict__, "verifier_keys": pinned})
        report = verify_audit(store, pinned_settings)
        assert report.status == STATUS_ANCHORED, report.problems
    after = AuditSettings(
        **{
            **settings.__dict__,
            "signing_key_file": tmp_path / "audit-2027.key",
            "verifier_keys": (new.verifier().text(),),
        }
    )
    append(store, 2, start=3)
    Checkpointer(store, after, new, anchors_of(after), lambda: T0).checkpoint("rotated")
    report = verify_audit(store, after)
    assert report.status == STATUS_ANCHORED, report.problems
    assert [c.size for c in report.checkpoints] == [3, 5]
