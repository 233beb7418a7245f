"""Shared fixtures: an embedded workspace (SQLite store, MLflow on SQLite with local
artifacts) in a temporary folder, with people in every role."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from hypothesis import HealthCheck, settings
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from riskops.context import Context, open_context
from riskops.workspace import DEMO_PEOPLE, init_workspace

# Property tests check correctness, not speed: a loaded CI machine must not fail them on time.
settings.register_profile("riskops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("riskops")

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "credit_scoring" / "model.yaml"
DATA = REPO / "data" / "german_credit" / "german_credit.csv"

OPINION = (
    "Fit for its intended use; the failed advisory gates are reviewed and tracked as findings."
)
"""A validator's opinion: the reference models fail advisory gates, so their sign-off needs one."""

PEOPLE: dict[str, list[str]] = {
    **DEMO_PEOPLE,
    "dana": ["developer", "validator"],  # may train and validate, but never her own model
    "vera": ["validator", "risk_officer"],  # may do either sign-off, never both on one version
    "rob": ["risk_officer"],
}


def under_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """True on a CI machine (``CI=true``, as GitHub Actions and .ci/run's caller set it)."""
    return environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str, *, environ: Mapping[str, str] = os.environ) -> NoReturn:
    """Stop a test whose service or program is missing: locally it skips, saying ``reason``;
    under ``CI=true`` it fails, since CI installs and starts everything the suite needs and a
    test that silently skipped there would prove nothing. Every such skip goes through here."""
    if under_ci(environ):
        pytest.fail(
            f"{reason} (CI=true: a missing service or program fails the test)", pytrace=False
        )
    pytest.skip(reason)


_WORKSPACE_VARS = (
    "RISKOPS_HOME",
    "RISKOPS_DATABASE_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "RISKOPS_ARTIFACT_ROOT",
    "RISKOPS_ACTOR",
    "RISKOPS_SECRET_KEY",
)


@pytest.fixture(scope="session", autouse=True)
def _mlflow_schema_built_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """MLflow builds a new SQLite tracking database by running its whole chain of schema
    migrations, 0.9 s of every test that trains in a new workspace. This process builds one
    such database with MLflow's own initialisation, and every later new SQLite database gets a
    copy of it through SQLite's backup API: the same tables, indexes and migration revision,
    checked by MLflow's schema verification right after. Other databases go MLflow's way."""
    import mlflow.store.db.utils as mlflow_db

    build = mlflow_db._initialize_tables
    template = tmp_path_factory.mktemp("mlflow-schema") / "mlflow.db"
    engine = create_engine(f"sqlite:///{template}")
    with warnings.catch_warnings():  # MLflow's own mappers, as when it builds one itself
        warnings.simplefilter("ignore", DeprecationWarning)
        build(engine)
    engine.dispose()

    def initialize(engine: Engine) -> None:
        if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
            build(engine)
            return
        source = sqlite3.connect(template)
        target = engine.raw_connection()
        try:
            source.backup(target.driver_connection)  # type: ignore[arg-type]
        finally:
            target.close()
            source.close()

    mlflow_db._initialize_tables = initialize
    yield
    mlflow_db._initialize_tables = build


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No workspace variables leak in from the machine running the tests."""
    for name in _WORKSPACE_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def ctx(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Context]:
    settings = init_workspace(tmp_path / "ws", people=PEOPLE)
    context = open_context(settings)
    yield context
    context.close()


@pytest.fixture
def spec_copy(tmp_path: Path) -> Callable[..., Path]:
    """Write a variant of the reference spec (with its trainer beside it) and return its path.

    ``edit`` receives the parsed YAML mapping and changes it in place.
    """

    def make(edit: Callable[[dict[str, Any]], None] | None = None, name: str = "variant") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(SPEC.parent / "trainer.py", folder / "trainer.py")
        raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
        raw["data"]["source"] = str(DATA)
        if edit is not None:
            edit(raw)
        path = folder / "model.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path

    return make


DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_CONNECT_TIMEOUT_S = 3


def _random_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def admin_engine(url: str) -> Engine:
    """An autocommit engine on ``url`` for DDL (CREATE/DROP SCHEMA, DATABASE)."""
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def drop_store_schema(connection: Connection, schema: str) -> None:
    """Drop a store's schema and the event triggers guarding it, as the break-glass superuser
    login does (docs/database-roles.md)."""
    from riskops.store.guards import MIGRATING_FLAG, removal_statements

    connection.execute(text(f"SET {MIGRATING_FLAG} = 'on'"))
    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    for statement in removal_statements(schema):
        connection.execute(text(statement))
    connection.execute(text(f"RESET {MIGRATING_FLAG}"))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The base SQLAlchemy URL of a PostgreSQL server that answers, or a skip."""
    url = os.environ.get("RISKOPS_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = admin_engine(url)
    except ModuleNotFoundError as exc:  # psycopg missing: the postgres extra is not installed
        unavailable(f"PostgreSQL driver not installed ({exc}); pip install -e '.[postgres]'")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        unavailable(
            f"PostgreSQL at {shown} is not available (connect timeout {PG_CONNECT_TIMEOUT_S} s): "
            f"{' '.join(str(exc.orig).split())}"
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema of its own, dropped (CASCADE) afterwards."""
    schema = _random_name("riskops_test")
    engine = admin_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        base = make_url(postgres_url)
        url = base.set(query={**base.query, "options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            drop_store_schema(connection, schema)
        engine.dispose()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store backend in turn: the same contract tests run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


def approve_and_deploy(ctx: Context, ref: Any, *, environment: str = "production") -> None:
    """Take a trained candidate through validation, both sign-offs and deployment."""
    from riskops.governance.approvals import approve
    from riskops.governance.deployments import deploy
    from riskops.validation.run import validate

    assert validate(ctx, ref, actor="victor").passed
    approve(ctx, ref, actor="victor", opinion=OPINION)
    approve(ctx, ref, actor="rita")
    deploy(ctx, ref, environment=environment, actor="oscar")


def store_snapshot(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every riskops table, to show that a refused action changed nothing."""
    import sqlalchemy

    from riskops.store.tables import Base

    rows: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows[table.name] = [tuple(r) for r in connection.execute(sqlalchemy.select(table))]
    return rows


def reference_split() -> Any:
    """The reference credit spec's partitions of its data (a SplitIndex), for tests that check
    sizes without pinning them: the spec's split decides them."""
    from riskops.datasets.prepared import prepare
    from riskops.datasets.snapshot import load_snapshot
    from riskops.spec import load_spec

    return prepare(load_snapshot(DATA), load_spec(SPEC).spec).split
