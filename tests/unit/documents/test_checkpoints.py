"""The signed checkpoints of a version's lifetime in its documents (Art. 12 record-keeping and
Art. 15 accuracy, robustness and cybersecurity): a real trained, validated, signed-off and
deployed version, with ``audit_checkpoints`` rows inserted directly as the checkpointer would
write them, and the text saying only what those rows say."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from riskops.audit import list_events
from riskops.config import load_settings
from riskops.context import Context, open_context
from riskops.documents.checkpoints import (
    NONE_YET,
    CheckpointRow,
    VersionCheckpoints,
    version_checkpoints,
)
from riskops.documents.records import gather_records
from riskops.documents.regulation import annex_iv
from riskops.documents.render import render_documents
from riskops.registry.versions import ModelRef
from riskops.store.tables import AuditCheckpointRecord, table_of
from riskops.training.pipeline import train
from riskops.workspace import config_text, init_workspace
from tests.conftest import _WORKSPACE_VARS, PEOPLE, SPEC, approve_and_deploy
from tests.insider import bypass_guards

ORIGIN = "riskops.example/bank/audit"
ROOTS = ("a1" * 32, "b2" * 32, "c3" * 32)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Context, ModelRef]]:
    """One workspace: credit-scoring@1 deployed, then @2 trained, so @2's registration comes
    after @1's whole lifecycle."""
    with pytest.MonkeyPatch.context() as env:
        for name in _WORKSPACE_VARS:
            env.delenv(name, raising=False)
        home = tmp_path_factory.mktemp("checkpoints") / "ws"
        init_workspace(home, people=PEOPLE)
        # No [audit] table: the checkpoint rows are the ones the tests insert.
        (home / "riskops.toml").write_text(config_text(PEOPLE), encoding="utf-8")
        context = open_context(load_settings(home=home))
        try:
            first = train(context, SPEC, actor="alice").ref
            approve_and_deploy(context, first)
            second = train(context, SPEC, actor="alice").ref
            approve_and_deploy(context, second)
            yield context, second
        finally:
            context.close()


@pytest.fixture
def checkpoints(released: tuple[Context, ModelRef]) -> Iterator[None]:
    """Three checkpoint rows: one before @2 was registered, two after (the newest anchored
    twice); removed again afterwards."""
    ctx, ref = released
    registered = _registered_seq(ctx, ref)
    head = list_events(ctx.store)[-1].seq
    rows = [
        (registered - 1, ROOTS[0], ["file"], datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        (registered, ROOTS[1], [], datetime(2026, 12, 1, 9, 5, tzinfo=UTC)),
        (head - 1, ROOTS[2], ["file", "s3"], datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
    ]
    with ctx.store.transaction() as session:
        session.execute(
            insert(table_of(AuditCheckpointRecord)),
            [
                {
                    "origin": ORIGIN,
                    "size": size,
                    "root": root,
                    "frontier": [],
                    "note": "",
                    "reason": "deployment",
                    "anchored": anchored,
                    "failures": {},
                    "created_at": at,
                }
                for size, root, anchored, at in rows
            ],
        )
    yield
    with ctx.store.engine.begin() as connection:
        bypass_guards(connection, "audit_checkpoints")
        connection.execute(delete(AuditCheckpointRecord))


def _registered_seq(ctx: Context, ref: ModelRef) -> int:
    [event] = [
        e for e in list_events(ctx.store, object_id=str(ref)) if e.action == "version.registered"
    ]
    return event.seq


def _annex_items(ctx: Context, ref: ModelRef) -> dict[str, str]:
    points = annex_iv(gather_records(ctx, ref))
    return {
        i.asks: i.answer
        for p in points
        for i in p.items
        if "Art. 12" in i.asks or "Art. 15" in i.asks
    }


def test_without_checkpoints_the_documents_say_the_records_are_not_anchored(
    released: tuple[Context, ModelRef], tmp_path: Path
) -> None:
    ctx, ref = released
    items = _annex_items(ctx, ref)
    assert len(items) == 2  # Art. 12 under point (6), Art. 15 under point (2)(h)
    for answer in items.values():
        assert NONE_YET in answer.lower()
    render_documents(ctx, ref, tmp_path)
    for name in ("annex-iv.md", "annex-iv.html", "model-card.md", "model-card.html"):
        text = html.unescape((tmp_path / f"credit-scoring-v2-{name}").read_text())
        assert NONE_YET in text.lower(), name
        assert "audit_checkpoints #" not in text, name


def test_the_checkpoints_covering_the_version_are_cited(
    released: tuple[Context, ModelRef], checkpoints: None, tmp_path: Path
) -> None:
    ctx, ref = released
    registered = _registered_seq(ctx, ref)
    head = list_events(ctx.store)[-1].seq
    items = _annex_items(ctx, ref)
    expected = (
        f"2 signed checkpoints of the audit log {ORIGIN} cover this version's records from its "
        f"registration (audit event #{registered}) on; "
        f"the first: size {registered}, root {ROOTS[1][:16]}, signed 2026-12-01 09:05:00 UTC, "
        "taken by no anchor; "
        f"the newest: size {head - 1}, root {ROOTS[2][:16]}, signed 2026-12-01 09:30:00 UTC, "
        f"taken by file, s3. Audit event #{head} is not covered by a signed "
        "checkpoint yet."
    )
    for asks, answer in items.items():
        assert expected in answer, asks
        assert ROOTS[0][:16] not in answer  # the checkpoint before the registration
    render_documents(ctx, ref, tmp_path)
    for name in ("annex-iv.md", "annex-iv.html", "model-card.md", "model-card.html"):
        text = html.unescape((tmp_path / f"credit-scoring-v2-{name}").read_text())
        assert expected in text, name
        assert NONE_YET not in text.lower(), name
    annex = (tmp_path / "credit-scoring-v2-annex-iv.md").read_text()
    assert f"- audit_checkpoints #2 — {ORIGIN}, size {registered}, root {ROOTS[1][:16]}" in annex
    assert "audit_checkpoints #2, #3" in annex  # cited as the records of both items
    assert "audit_checkpoints #1" not in annex


def test_one_checkpoint_and_none_after_the_head() -> None:
    only = VersionCheckpoints(
        7,
        (
            version_row := CheckpointRow(
                4, ORIGIN, 9, ROOTS[0], ("file",), datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
            ),
        ),
    )
    assert only.sentence(head_seq=12).endswith(
        "Audit events #10–#12 are not covered by a signed checkpoint yet."
    )
    assert only.sentence(head_seq=9) == (
        f"1 signed checkpoint of the audit log {ORIGIN} covers this version's records from its "
        f"registration (audit event #7) on: size 9, root {ROOTS[0][:16]}, signed 2026-12-02 "
        "08:00:00 UTC, taken by file."
    )
    assert only.cited() == "audit_checkpoints #4"
    assert version_row.described().endswith("taken by file")
    unregistered = VersionCheckpoints(None).sentence(head_seq=3)
    assert "No version.registered audit event is recorded" in unregistered
    assert "integrity-checked only, not anchored" in unregistered


def test_a_version_registered_after_every_checkpoint_has_none(
    released: tuple[Context, ModelRef], checkpoints: None
) -> None:
    ctx, _ = released
    head = list_events(ctx.store)[-1].seq
    with ctx.store.reading() as session:
        assert version_checkpoints(session, head).rows == ()
        assert [r.root for r in version_checkpoints(session, 1).rows] == list(ROOTS)


def test_the_signing_key_id_is_read_from_the_note() -> None:
    from riskops.audit.note import Checkpoint, Signer, sign_note
    from riskops.documents.checkpoints import signing_key_ids

    signer = Signer.generate("example.com/riskops/audit")
    note = sign_note(Checkpoint("example.com/riskops/audit", 3, bytes(32)).body(), [signer])
    assert signing_key_ids(note) == (f"example.com/riskops/audit+{signer.key_id.hex()}",)
    assert signing_key_ids("example.com/riskops/audit\n3\nAAAA\n") == ()
