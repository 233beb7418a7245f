"""Documents filed with a version: copied into the workspace, recorded in the audit chain with
their sha256, listed by the Annex IV pack and re-hashed at every render."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from riskops.audit import list_events, verify
from riskops.context import Context, open_context
from riskops.documents.attachments import (
    ACTION,
    attach,
    attachments_of,
    missing_kinds,
    verify_attachments,
)
from riskops.documents.records import gather_records
from riskops.documents.render import render_documents
from riskops.errors import InputError, NotFoundError, PermissionDeniedError
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import _WORKSPACE_VARS, PEOPLE, SPEC

Trained = tuple[Context, ModelRef]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    with pytest.MonkeyPatch.context() as env:
        for name in _WORKSPACE_VARS:
            env.delenv(name, raising=False)
        ctx = open_context(init_workspace(tmp_path_factory.mktemp("attach") / "ws", people=PEOPLE))
        try:
            yield ctx, train(ctx, SPEC, actor="alice").ref
        finally:
            ctx.close()


def _annex(ctx: Context, ref: ModelRef, out: Path) -> str:
    render_documents(ctx, ref, out, formats=("md",))
    return (out / f"{ref.name}-v{ref.version}-annex-iv.md").read_text(encoding="utf-8")


def test_a_filed_document_is_recorded_listed_and_rehashed(trained: Trained, tmp_path: Path) -> None:
    ctx, ref = trained
    assert missing_kinds(gather_records(ctx, ref)) == ("declaration_of_conformity", "fria")
    doc = tmp_path / "declaration of conformity.pdf"
    doc.write_bytes(b"%PDF-1.7 declaration of conformity for credit-scoring")
    digest = hashlib.sha256(doc.read_bytes()).hexdigest()

    filed = attach(ctx, ref, doc, kind="declaration_of_conformity", actor="rita")

    assert (filed.sha256, filed.size, filed.name) == (digest, doc.stat().st_size, doc.name)
    stored = ctx.settings.home / filed.stored
    assert stored.read_bytes() == doc.read_bytes()
    [event] = [e for e in list_events(ctx.store) if e.action == ACTION]
    assert (event.seq, event.actor, event.object_id) == (filed.seq, "rita", str(ref))
    assert verify(ctx.store).ok
    records = gather_records(ctx, ref)
    assert [a.sha256 for a in attachments_of(records)] == [digest]
    assert missing_kinds(records) == ("fria",)
    assert [k.verdict for k in verify_attachments(ctx, ref)] == ["verified"]
    annex = _annex(ctx, ref, tmp_path / "before")
    assert f"`{digest}`" in annex
    assert "verified: stored copy re-hashed: matches" in annex
    assert "Missing: a deployer's fundamental-rights impact assessment" in annex
    assert f"Attached by the provider: {doc.name}" in annex  # point (8)

    stored.write_bytes(stored.read_bytes() + b" edited")
    [check] = verify_attachments(ctx, ref)
    assert check.verdict == "mismatch"
    assert check.found_sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert "MISMATCH" in _annex(ctx, ref, tmp_path / "edited")

    stored.unlink()
    assert [k.verdict for k in verify_attachments(ctx, ref)] == ["missing"]


def test_a_fria_of_a_fraud_model_is_not_expected(trained: Trained) -> None:
    ctx, ref = trained
    r = gather_records(ctx, ref)
    assert r.spec is not None
    fraud = replace(r, spec=r.spec.model_copy(update={"kind": "fraud"}))
    assert missing_kinds(fraud) == ()


def test_refusals_name_what_is_allowed(trained: Trained, tmp_path: Path) -> None:
    ctx, ref = trained
    doc = tmp_path / "fria.pdf"
    doc.write_bytes(b"assessment")
    with pytest.raises(InputError, match="Unknown attachment kind 'dpia'; it is one of: "):
        attach(ctx, ref, doc, kind="dpia", actor="rita")
    with pytest.raises(InputError, match="is not a file, so it cannot be attached"):
        attach(ctx, ref, tmp_path / "absent.pdf", kind="fria", actor="rita")
    with pytest.raises(PermissionDeniedError, match="cannot attach a document to"):
        attach(ctx, ref, doc, kind="fria", actor="oscar")
    with pytest.raises(NotFoundError, match="credit-scoring"):
        attach(ctx, ModelRef(ref.name, 99), doc, kind="fria", actor="rita")
    with pytest.raises(InputError, match="needs the name of who does it"):
        attach(ctx, ref, doc, kind="fria", actor=None)
