"""The refresher re-reads keys and deployments only when the audit chain says something
changed."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from riskops.audit import record
from riskops.context import Context
from riskops.errors import BackendError, ConfigError, ConflictError, InputError, NotFoundError
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.secrets import load_secrets
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


def test_a_server_refuses_a_store_whose_schema_is_behind(ctx: Context, tmp_path: Path) -> None:
    from tests.unit.store.test_schema import _downgrade

    _downgrade(ctx.store, "0003")
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    with pytest.raises(ConflictError, match="schema behind: revision 0003") as info:
        ScoringService.open(settings)
    assert info.value.hint == "As the role that owns the tables, run: riskops db upgrade"
    assert not (tmp_path / "wal").exists()  # refused before it claimed a WAL slot


def test_a_server_refuses_another_workspace_secret(ctx: Context, tmp_path: Path) -> None:
    bind_secrets(ctx.settings, ctx.store)  # the workspace's own secret, recorded
    other = dataclasses.replace(ctx.settings, secret_key="cd" * 32)
    settings = ServerSettings(workspace=other, flusher="thread", wal_dir=tmp_path / "wal")
    with pytest.raises(ConfigError, match="is not the secret of this store"):
        ScoringService.open(settings)


def test_a_store_down_at_start_is_checked_once_it_answers(
    ctx: Context, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_secrets(ctx.settings)  # the home has its secret from an earlier start
    down = dataclasses.replace(
        ctx.settings, database_url="postgresql+psycopg://nobody@127.0.0.1:9/riskops"
    )
    settings = ServerSettings(workspace=down, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        assert "The store did not answer at start" in caplog.text
        assert service._schema_unchecked is True
    finally:
        service.close()


def test_server_settings_from_the_environment(ctx: Context) -> None:
    settings = ServerSettings.from_environment(
        ctx.settings,
        {
            "RISKOPS_ENV": "staging",
            "RISKOPS_MAX_BATCH": "10",
            "RISKOPS_FLUSHER": "thread",
            "RISKOPS_MODEL_TIMEOUT_MS": "0",
        },
    )
    assert (settings.environment, settings.max_batch, settings.flusher) == ("staging", 10, "thread")
    assert settings.model_timeout_ms is None
    assert settings.wal_path == ctx.settings.home / "decision-wal" / "staging"
    with pytest.raises(InputError, match="Unknown environment 'qa'"):
        ServerSettings.from_environment(ctx.settings, {"RISKOPS_ENV": "qa"})
    with pytest.raises(InputError, match="--flusher 'fork'; valid values are: thread, process"):
        ServerSettings.from_environment(ctx.settings, {"RISKOPS_FLUSHER": "fork"})
    with pytest.raises(ConfigError, match="RISKOPS_MAX_BATCH='many' is not a whole number"):
        ServerSettings.from_environment(ctx.settings, {"RISKOPS_MAX_BATCH": "many"})


def test_a_schema_left_unchecked_at_start_is_checked_by_the_refresher(
    ctx: Context, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.unit.store.test_schema import _downgrade

    settings = ServerSettings(
        workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal", refresh_seconds=0.05
    )
    service = ScoringService.open(settings)
    try:
        service._schema_unchecked = True  # as after a start while the store was down
        _downgrade(ctx.store, "0003")  # and meanwhile the store went back a revision
        service.start()
        deadline = time.monotonic() + 20
        while "riskops store is not current" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
        assert service._schema_unchecked is True
        assert service.loaded_once is False  # nothing refreshed from a schema that is behind
        ctx.store.migrate()
        while service._schema_unchecked:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)
    finally:
        service.close()


def test_a_process_that_has_not_loaded_its_deployments_answers_retry_later_not_not_found(
    ctx: Context, tmp_path: Path
) -> None:
    """With --workers, one worker may be ready (its /readyz is 200) while another still loads:
    the latter's answer for a deployed model must be a 503 with Retry-After, not a 404."""
    settings = ServerSettings(workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    try:
        subject = service_module.Subject("S-1", {"age": 30})
        with pytest.raises(BackendError, match="has not loaded the deployments") as starting:
            service.decide("credit-scoring", subject)
        assert starting.value.retry_after == 1
        service.refresh()
        with pytest.raises(NotFoundError, match="No model named 'credit-scoring'"):
            service.decide("credit-scoring", subject)  # loaded: nothing deployed here
    finally:
        service.close()


def test_the_service_exports_readiness_and_counts_flusher_restarts(
    ctx: Context, tmp_path: Path
) -> None:
    settings = ServerSettings(workspace=ctx.settings, flusher="process", wal_dir=tmp_path / "wal")
    service = ScoringService.open(settings)
    sample = service.metrics.registry.get_sample_value
    try:
        assert sample("riskops_ready") == 0.0  # nothing loaded yet
        service.refresh()
        assert sample("riskops_ready") == 1.0  # loaded: nothing deployed here, nothing refused
        assert sample("riskops_decision_log_flusher_restarts_total") == 0.0
        decision_log = service.decisions._log  # type: ignore[attr-defined]
        flusher = decision_log._process
        assert flusher is not None
        flusher.kill()
        flusher.join(10)
        service.decisions.check()  # what the refresher does on each pass
        assert decision_log._process is not flusher
        assert sample("riskops_decision_log_flusher_restarts_total") == 1.0
        service.decisions.check()  # the new one runs: not counted again
        assert sample("riskops_decision_log_flusher_restarts_total") == 1.0
    finally:
        service.close()


def test_decision_ids_are_new_version_4_uuids_as_lowercase_text() -> None:
    import uuid

    ids = service_module.decision_ids(2000)
    assert len(set(ids)) == 2000
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
    assert service_module.decision_ids(0) == []
