"""What every service function is handed: settings, the store, the MLflow registry, a clock.

Built once per process by a shell (CLI, server, flow) and passed in; nothing global.

Example::

    ctx = open_context(load_settings())
    train(ctx, spec_path, actor="alice")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from riskops.config import Settings
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.store import Store, open_store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    store: Store
    registry: MlflowRegistry
    clock: Callable[[], datetime] = field(default=utc_now)

    def close(self) -> None:
        self.store.dispose()


def open_context(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    migrate: bool = True,
    read_timeout: float | None = None,
) -> Context:
    """Open the store (migrating it unless ``migrate`` is False: a scoring server starts
    without touching the database, which may be down) and the registry of a workspace;
    ``read_timeout`` is a shorter statement timeout for the store's reads (a server's)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_store(
        settings.database_url,
        migrate=migrate,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
        read_statement_timeout=read_timeout,
    )
    registry = MlflowRegistry(
        settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.artifact_root
    )
    return Context(settings=settings, store=store, registry=registry, clock=clock)
