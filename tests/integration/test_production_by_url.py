"""The whole credit-scoring lifecycle in "production by URL" mode, on real servers only.

* the riskops store on PostgreSQL, in a schema of its own (``search_path`` in the URL);
* MLflow tracking and registry on PostgreSQL, in a database of its own;
* MLflow artifacts on a real S3 server (SeaweedFS), which checks SigV4 signatures.

Then each object is looked up where it should live, with that server's own client: the
riskops tables in the schema, the registered versions, tags and alias through MLflow's client,
the model files in the bucket through boto3, and the append-only trigger on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from riskops.audit import list_events, verify
from riskops.config import load_settings
from riskops.context import Context, open_context
from riskops.errors import IntegrityError
from riskops.governance.approvals import approve
from riskops.governance.deployments import deploy, rollback
from riskops.governance.lifecycle import State
from riskops.registry.artifacts import load_verified_model
from riskops.registry.versions import ModelRef
from riskops.training.pipeline import TrainResult, train
from riskops.validation.run import validate
from riskops.workspace import DEMO_PEOPLE, init_workspace
from tests.conftest import OPINION

if TYPE_CHECKING:
    from conftest import S3Server  # tests/integration/conftest.py

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "models" / "credit_scoring" / "model.yaml"
MODEL = "credit-scoring"
V2_PARAMS = {"n_estimators": 300, "learning_rate": 0.02, "num_leaves": 6}

RISKOPS_TABLES = {
    "alembic_version",
    "models",
    "model_versions",
    "validation_runs",
    "gate_results",
    "approvals",
    "deployments",
    "audit_events",
    "audit_head",
}
EXPECTED_ACTIONS = [
    ("version.registered", "alice", f"{MODEL}@1"),
    ("validation.completed", "victor", f"{MODEL}@1"),
    ("version.signed_off", "victor", f"{MODEL}@1"),
    ("version.approved", "rita", f"{MODEL}@1"),
    ("deployment.deployed", "oscar", f"{MODEL}@1"),
    ("version.registered", "alice", f"{MODEL}@2"),
    ("validation.completed", "victor", f"{MODEL}@2"),
    ("version.signed_off", "victor", f"{MODEL}@2"),
    ("version.approved", "rita", f"{MODEL}@2"),
    ("deployment.deployed", "oscar", f"{MODEL}@2"),
    ("deployment.rolled_back", "oscar", f"{MODEL}@1"),
]


@dataclass(frozen=True)
class Production:
    """A workspace whose every store is a server named by URL."""

    ctx: Context
    database_url: str
    mlflow_uri: str
    s3: S3Server

    def mlflow_client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(tracking_uri=self.mlflow_uri, registry_uri=self.mlflow_uri)

    def s3_key(self, uri: str) -> str:
        """The object key of ``s3://<bucket>/<key>`` in this test's bucket."""
        prefix = f"s3://{self.s3.bucket}/"
        assert uri.startswith(prefix), f"{uri} is not in the bucket {self.s3.bucket}"
        return uri.removeprefix(prefix)


@pytest.fixture
def production(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pg_schema_url: str,
    mlflow_pg_uri: str,
    s3_server: S3Server,
) -> Iterator[Production]:
    """A riskops context on PostgreSQL (store and MLflow) and S3 (artifacts), set by URL."""
    # Only this test's S3 credentials count: no profile, token or config file of the machine.
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "RISKOPS_HOME",
        "RISKOPS_ACTOR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws" / "credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    environ = {
        "RISKOPS_DATABASE_URL": pg_schema_url,
        "MLFLOW_TRACKING_URI": mlflow_pg_uri,
        "MLFLOW_REGISTRY_URI": mlflow_pg_uri,
        "RISKOPS_ARTIFACT_ROOT": f"s3://{s3_server.bucket}/mlflow",
    }
    # init_workspace reads its settings from os.environ, so the URLs go there too.
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "workspace"
    init_workspace(home, force=True, people=DEMO_PEOPLE)
    settings = load_settings(environ, home=home)
    assert not settings.is_embedded
    assert settings.database_url == pg_schema_url
    assert settings.mlflow_tracking_uri == settings.mlflow_registry_uri == mlflow_pg_uri
    assert settings.people, "the workspace's riskops.toml lists the demo people"
    ctx = open_context(settings)
    try:
        yield Production(
            ctx=ctx, database_url=pg_schema_url, mlflow_uri=mlflow_pg_uri, s3=s3_server
        )
    finally:
        ctx.close()


def _release(ctx: Context, trained: TrainResult, champion: ModelRef | None) -> None:
    """Validate, sign off (validator, then risk officer) and deploy ``trained`` to production."""
    ref = trained.ref
    outcome = validate(ctx, ref, actor="victor")
    assert outcome.passed, [r.as_dict() for r in outcome.results if not r.passed]
    assert outcome.state == State.VALIDATED
    assert outcome.champion == champion
    signed = approve(ctx, ref, actor="victor", opinion=OPINION, note="Gates reviewed.")
    assert signed.state == State.VALIDATED
    approved = approve(ctx, ref, actor="rita", note="Approved for production.")
    assert approved.state == State.APPROVED
    deployed = deploy(ctx, ref, environment="production", actor="oscar", reason="release")
    assert deployed.previous_version == (champion.version if champion else None)


def _bucket_keys(s3: S3Server) -> set[str]:
    client = s3.client()
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def test_s3_server_checks_the_secret(s3_server: S3Server) -> None:
    wrong = s3_server.client(secret="not-" + s3_server.secret)
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        wrong.list_objects_v2(Bucket=s3_server.bucket)
    assert s3_server.client().list_objects_v2(Bucket=s3_server.bucket)["KeyCount"] == 0


def test_lifecycle_on_postgres_and_s3(production: Production) -> None:
    ctx = production.ctx

    v1 = train(ctx, SPEC, actor="alice")
    assert v1.ref == ModelRef(MODEL, 1)
    _release(ctx, v1, champion=None)
    v2 = train(ctx, SPEC, actor="alice", params=V2_PARAMS)
    assert v2.ref == ModelRef(MODEL, 2)
    assert v2.digest != v1.digest
    _release(ctx, v2, champion=v1.ref)
    rolled = rollback(
        ctx, MODEL, environment="production", actor="oscar", reason="back to the previous one"
    )
    assert (rolled.ref, rolled.previous_version) == (v1.ref, 2)

    # The audit chain: intact, one event per step, in order.
    report = verify(ctx.store)
    assert report.ok, report.as_dict()
    assert report.events == report.head_seq == len(EXPECTED_ACTIONS)
    events = list_events(ctx.store)
    assert [(e.action, e.actor, e.object_id) for e in events] == EXPECTED_ACTIONS

    _check_riskops_store(production)
    _check_mlflow(production, v1, v2)
    _check_s3(production)
    _check_append_only(production, events=len(EXPECTED_ACTIONS))


def _check_riskops_store(production: Production) -> None:
    """The riskops tables and rows are in the test's own schema, and MLflow's are not."""
    engine = create_engine(production.database_url)
    try:
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
            assert schema.startswith("riskops_test_")
            tables = set(
                connection.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = :schema"
                    ),
                    {"schema": schema},
                ).scalars()
            )
            versions = connection.execute(
                text("SELECT version, state FROM model_versions ORDER BY version")
            ).all()
            deployments = connection.execute(
                text("SELECT action, version, previous_version FROM deployments ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert tables >= RISKOPS_TABLES, RISKOPS_TABLES - tables
    assert "registered_models" not in tables, "MLflow's tables belong in their own database"
    assert [tuple(row) for row in versions] == [(1, "approved"), (2, "approved")]
    assert [tuple(row) for row in deployments] == [
        ("deploy", 1, None),
        ("deploy", 2, 1),
        ("rollback", 1, 2),
    ]


def _check_mlflow(production: Production, v1: TrainResult, v2: TrainResult) -> None:
    """MLflow's own client sees both versions, their lineage tags and the champion alias, and
    its tables are in its own PostgreSQL database."""
    client = production.mlflow_client()
    versions = sorted(
        client.search_model_versions(f"name = '{MODEL}'"), key=lambda mv: int(mv.version)
    )
    assert [int(mv.version) for mv in versions] == [1, 2]
    for mv, trained in zip(versions, (v1, v2), strict=True):
        assert mv.tags["riskops.digest"] == trained.digest
        assert mv.tags["riskops.data_fingerprint"] == trained.data_fingerprint
        assert mv.tags["riskops.code_commit"] == (trained.code_commit or "none")
        assert mv.run_id == trained.run_id
        assert mv.source.startswith(f"s3://{production.s3.bucket}/mlflow/{MODEL}/")
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 1
    aliases = client.get_registered_model(MODEL).aliases
    assert {alias: int(version) for alias, version in aliases.items()} == {"champion": 1}

    engine = create_engine(production.mlflow_uri)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, version FROM model_versions ORDER BY version")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(MODEL, 1), (MODEL, 2)]


def _check_s3(production: Production) -> None:
    """Each version's model files, the spec and the data snapshot are objects in the bucket."""
    keys = _bucket_keys(production.s3)
    client = production.mlflow_client()
    for version in ("1", "2"):
        mv = client.get_model_version(MODEL, version)
        model_key = production.s3_key(mv.source)
        assert {f"{model_key}/model.lgb", f"{model_key}/MLmodel"} <= keys, sorted(keys)
        run_key = model_key.removesuffix("/model")
        assert f"{run_key}/riskops/model.yaml" in keys
        assert any(k.startswith(f"{run_key}/data/") for k in keys)


def _check_append_only(production: Production, *, events: int) -> None:
    """PostgreSQL itself refuses to change or remove an audit event."""
    engine = create_engine(production.database_url)
    try:
        for statement in (
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
    finally:
        engine.dispose()
    assert count == events
    assert verify(production.ctx.store).ok


def test_tampered_artifact_in_s3_is_refused(production: Production) -> None:
    ctx = production.ctx
    v1 = train(ctx, SPEC, actor="alice")
    model = load_verified_model(ctx.registry, MODEL, 1, digest=v1.digest, flavor=v1.flavor)
    assert model.num_trees() > 0

    source = production.mlflow_client().get_model_version(MODEL, "1").source
    key = f"{production.s3_key(source)}/model.lgb"
    s3 = production.s3.client()
    original = s3.get_object(Bucket=production.s3.bucket, Key=key)["Body"].read()
    forged = b"tree\nversion=v4\n# not the approved model\n"
    assert forged != original
    s3.put_object(Bucket=production.s3.bucket, Key=key, Body=forged)

    with pytest.raises(IntegrityError, match="digest"):
        load_verified_model(ctx.registry, MODEL, 1, digest=v1.digest, flavor=v1.flavor)
