"""The refresher re-reads keys and deployments only when the audit chain says something
changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riskops.audit import record
from riskops.context import Context
from riskops.serving import routing
from riskops.serving import service as service_module
from riskops.serving.auth import create_key, revoke_key
from riskops.serving.service import ScoringService, ServerSettings
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy


def test_a_pass_re_reads_only_after_a_change_that_is_not_a_decision_seal(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        reads: list[int] = []
        real = service.refresh

        def counted() -> None:
            reads.append(1)
            real()

        monkeypatch.setattr(service, "refresh", counted)
        assert service.refresh_if_changed() is True  # the first pass always reads
        assert service.refresh_if_changed() is False
        with ctx.store.transaction() as session:  # what the decision log's flusher records
            record(
                session,
                actor="decision-log",
                role="service",
                action="decisions.batch_sealed",
                object_type="decision_batch",
                object_id="decision-batch/1",
                payload={"count": 0},
                at=ctx.clock(),
            )
        assert service.refresh_if_changed() is False
        with ctx.store.transaction() as session:  # what an auditor's decision read records
            record(
                session,
                actor="exam-2026",
                role="auditor",
                action="audit.decision_read",
                object_type="decision",
                object_id="0b0d7a6e-0000-4000-8000-000000000001",
                payload={"key": "eeeeeeee"},
                at=ctx.clock(),
            )
        assert service.refresh_if_changed() is False
        key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar")
        assert service.refresh_if_changed() is True
        token = key.token
        assert service.keys.authorise(token, scope="score").name == "portal"
        assert service.refresh_if_changed() is False
        revoke_key(ctx, key.key.prefix, actor="oscar")
        assert service.refresh_if_changed() is True
        assert len(reads) == 3
        monkeypatch.setattr(service_module, "FULL_REFRESH_SECONDS", 0.0)
        assert service.refresh_if_changed() is True  # stale: a full pass regardless
    finally:
        service.close()


def test_a_version_that_could_not_load_is_tried_again_on_the_next_full_pass(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        real = routing.load_verified_model

        def artifact_store_away(*args: Any, **kwargs: Any) -> Any:
            raise OSError("Could not connect to the endpoint URL")

        monkeypatch.setattr(routing, "load_verified_model", artifact_store_away)
        service.refresh_if_changed()
        ready, body = service.readiness()
        assert ready is False
        assert body["refused"][0]["reason"].startswith("load failed: Could not connect")
        unavailable = service.table
        assert service.refresh_if_changed() is False  # nothing new: no retry yet
        assert service.table is unavailable

        monkeypatch.setattr(routing, "load_verified_model", real)
        monkeypatch.setattr(service_module, "FULL_REFRESH_SECONDS", 0.0)
        assert service.refresh_if_changed() is True
        ready, body = service.readiness()
        assert ready is True
        assert body["refused"] == []
        assert service.table.routes["credit-scoring"].champion.available
    finally:
        service.close()
