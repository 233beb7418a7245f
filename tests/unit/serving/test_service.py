"""The refresher re-reads keys and deployments only when the audit chain says something
changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskops.audit import record
from riskops.context import Context
from riskops.serving import service as service_module
from riskops.serving.auth import create_key, revoke_key
from riskops.serving.service import ScoringService, ServerSettings


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
        key = create_key(ctx, "portal", scopes=["score"], actor="oscar")
        assert service.refresh_if_changed() is True
        token = key.token
        assert service.keys.authorise(token, scope="score") == "portal"
        assert service.refresh_if_changed() is False
        revoke_key(ctx, key.key.prefix, actor="oscar")
        assert service.refresh_if_changed() is True
        assert len(reads) == 3
        monkeypatch.setattr(service_module, "FULL_REFRESH_SECONDS", 0.0)
        assert service.refresh_if_changed() is True  # stale: a full pass regardless
    finally:
        service.close()
