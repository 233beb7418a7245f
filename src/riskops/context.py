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
from typing import Literal

from riskops.audit.log import install_checkpointing
from riskops.config import Settings
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.store import Store, open_store
from riskops.store.schema import ensure_schema

# How a process treats the store's schema (see riskops.store.schema):
#   auto   migrate an embedded SQLite store, require a PostgreSQL one to be current (the CLI)
#   check  require it to be current, never migrate (a server)
#   skip   neither: the caller checks when it can (a server whose store may be down)
SchemaPolicy = Literal["auto", "check", "skip"]


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
    schema: SchemaPolicy = "auto",
    read_timeout: float | None = None,
) -> Context:
    """Open the store and the registry of a workspace. ``schema`` says whether the store is
    migrated, checked (ConflictError naming ``riskops db upgrade`` if behind) or left alone;
    ``read_timeout`` is a shorter statement timeout for the store's reads (a server's)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = open_store(
        settings.database_url,
        migrate=False,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
        read_statement_timeout=read_timeout,
    )
    if schema != "skip":
        try:
            ensure_schema(store, migrate=schema == "auto" and store.dialect == "sqlite")
        except Exception:
            store.dispose()
            raise
    install_checkpointing(store, settings.audit, clock)
    registry = MlflowRegistry(
        settings.mlflow_tracking_uri, settings.mlflow_registry_uri, settings.artifact_root
    )
    return Context(settings=settings, store=store, registry=registry, clock=clock)
