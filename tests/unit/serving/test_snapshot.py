"""The deployment snapshot: written after each refresh that reached the store, served by a
server started while the store is down (artifacts from its own cache, digests checked again),
refused when edited, and left for the store as soon as that answers."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskops.context import Context
from riskops.errors import BackendError, IntegrityError
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets
from riskops.registry.artifacts import load_cached_model
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.serving import service as service_module
from riskops.serving.auth import create_key
from riskops.serving.service import ScoringService, ServerSettings, Subject
from riskops.serving.snapshot import read_snapshot
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy
from tests.unit.conftest import German


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class Served:
    settings: ServerSettings
    token: str


@pytest.fixture
def served_once(ctx: Context, tmp_path: Path) -> Served:
    """A workspace whose server ran once while the store answered (snapshot and cache made)."""
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    token = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    settings = ServerSettings(
        workspace=ctx.settings, flusher="thread", wal_dir=tmp_path / "wal", refresh_seconds=0.1
    )
    service = ScoringService.open(settings)
    try:
        service.refresh_if_changed()
        assert service.readiness()[1]["source"] == "store"
    finally:
        service.close()
    assert settings.snapshot_path.is_file()
    return Served(settings, token)


@pytest.fixture
def no_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    def away(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("Could not download from MLflow: connection refused")

    monkeypatch.setattr(MlflowRegistry, "download_version", away)


def store_down(settings: ServerSettings) -> ServerSettings:
    down = f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/riskops"
    return dataclasses.replace(
        settings, workspace=dataclasses.replace(settings.workspace, database_url=down)
    )


@pytest.fixture
def started_down(served_once: Served, no_mlflow: None) -> Iterator[ScoringService]:
    service = ScoringService.open(store_down(served_once.settings))  # no migration: no error
    service.start()
    try:
        deadline = time.monotonic() + 30
        while not service.loaded_once:
            assert time.monotonic() < deadline, service.readiness()
            time.sleep(0.05)
        yield service
    finally:
        service.close()


def test_a_server_started_while_the_store_is_down_serves_its_snapshot(
    served_once: Served, started_down: ScoringService, german: German
) -> None:
    service = started_down
    ready, body = service.readiness()
    assert ready is True
    assert body["source"] == "snapshot"
    assert body["snapshot_at"]
    assert [(x["model"], x["version"], x["lane"]) for x in body["loaded"]] == [
        ("credit-scoring", 1, "champion")
    ]
    exposition = service.metrics.exposition().decode()
    assert 'riskops_routing_source{source="snapshot"} 1.0' in exposition
    assert 'riskops_routing_source{source="store"} 0.0' in exposition
    caller = service.keys.authorise(served_once.token, scope="score")
    assert caller.name == "portal"
    outcome, _ = service.decide(
        "credit-scoring", Subject("s-down", german.requests[0]), client=caller.client
    )
    assert outcome.decision.fallback is False
    found = service.get_decision(outcome.decision_id, caller)
    assert found["decision"] == outcome.decision.decision


def test_the_server_switches_to_the_store_when_it_answers(
    served_once: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = service_module.activity_since

    def down(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("The riskops database did not answer: connection refused")

    monkeypatch.setattr(service_module, "activity_since", down)
    service = ScoringService.open(served_once.settings)
    service.start()
    try:
        deadline = time.monotonic() + 30
        while service.source != "snapshot":
            assert time.monotonic() < deadline, service.readiness()
            time.sleep(0.05)
        monkeypatch.setattr(service_module, "activity_since", real)
        while service.source != "store":
            assert time.monotonic() < deadline, service.readiness()
            time.sleep(0.05)
        ready, body = service.readiness()
        assert (ready, body["source"], "snapshot_at" in body) == (True, "store", False)
        assert 'riskops_routing_source{source="store"} 1.0' in service.metrics.exposition().decode()
    finally:
        service.close()


def test_an_edited_snapshot_is_refused(served_once: Served, ctx: Context) -> None:
    path = served_once.settings.snapshot_path
    secrets = load_secrets(ctx.settings)
    assert read_snapshot(path, secrets, environment="production").lanes[0].plan.version == 1
    outer = json.loads(path.read_text())
    outer["body"] = outer["body"].replace('"share":null', '"share":1.0')
    path.write_text(json.dumps(outer))
    with pytest.raises(IntegrityError, match="does not verify: it was edited"):
        read_snapshot(path, secrets, environment="production")


def test_a_snapshot_of_another_workspace_secret_or_environment_is_refused(
    served_once: Served, ctx: Context
) -> None:
    path = served_once.settings.snapshot_path
    with pytest.raises(IntegrityError, match="written with another workspace secret"):
        read_snapshot(path, WorkspaceSecrets.from_secret(bytes(32)), environment="production")
    with pytest.raises(IntegrityError, match="is of 'production', not 'staging'"):
        read_snapshot(path, load_secrets(ctx.settings), environment="staging")


def test_a_server_with_an_edited_snapshot_stays_not_ready(
    served_once: Served, no_mlflow: None
) -> None:
    path = served_once.settings.snapshot_path
    path.write_text(path.read_text().replace('"hmac": "', '"hmac": "0'))
    service = ScoringService.open(store_down(served_once.settings))
    try:
        assert service.serve_snapshot() is False
        ready, body = service.readiness()
        assert (ready, body["waiting"]) == (False, "models are still loading")
    finally:
        service.close()


def test_a_cached_artifact_that_differs_from_the_approved_one_is_removed_not_served(
    served_once: Served, no_mlflow: None
) -> None:
    cache = served_once.settings.model_cache
    (kept,) = list(cache.iterdir())
    model_file = next(p for p in kept.rglob("*") if p.is_file() and p.suffix != ".yaml")
    model_file.write_bytes(model_file.read_bytes() + b"\n")
    digest = kept.name.replace("-", ":", 1)
    with pytest.raises(IntegrityError, match="it was removed, not loaded"):
        load_cached_model(cache, "credit-scoring", 1, digest=digest, flavor="lightgbm")
    assert not kept.exists()
    service = ScoringService.open(store_down(served_once.settings))
    try:
        assert service.serve_snapshot() is True
        ready, body = service.readiness()
        assert (ready, body["source"]) == (False, "snapshot")  # every version, verified, or not
        assert body["refused"][0]["reason"].startswith("load failed: No local copy")
    finally:
        service.close()
