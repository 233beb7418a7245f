"""The whole audit log in its production shape: a PostgreSQL store, checkpoints signed with a key
outside it and anchored in an S3 bucket under Object Lock (SeaweedFS) and a file, with a quorum
of two. ``verify`` reads the checkpoints back from S3 itself; a superuser's rewrite of the store
is caught, and the locked checkpoint that catches it cannot be deleted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskops.audit.log import install_checkpointing
from riskops.audit.note import write_key_file
from riskops.audit.trail import record
from riskops.audit.verification import STATUS_ANCHORED, STATUS_BROKEN, verify_audit
from riskops.config import AuditSettings
from riskops.store import Store, open_store
from tests.integration.conftest import _Weed, s3_client
from tests.unit.audit.test_insider import rechain

pytestmark = pytest.mark.integration

ORIGIN = "bank.example/riskops/prod"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def bucket(_seaweedfs: _Weed, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _seaweedfs.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _seaweedfs.secret)
    client = s3_client(_seaweedfs.endpoint, _seaweedfs.key, _seaweedfs.secret)
    name = f"riskops-audit-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name, client


@pytest.fixture
def settings(tmp_path: Path, _seaweedfs: _Weed, bucket: tuple[str, Any]) -> AuditSettings:
    signer = write_key_file(tmp_path / "audit.key", ORIGIN)
    return AuditSettings(
        base=tmp_path,
        origin=ORIGIN,
        signing_key_file=tmp_path / "audit.key",
        verifier_keys=(signer.verifier().text(),),
        anchors=(
            {
                "type": "s3",
                "bucket": bucket[0],
                "prefix": "audit/",
                "endpoint_url": _seaweedfs.endpoint,
                "region": "us-east-1",
                "retention_days": 1,
            },
            {"type": "file", "path": "anchors/checkpoints.jsonl"},
        ),
        quorum=2,
        every_events=4,
        max_age_seconds=10**9,
    )


@pytest.fixture
def store(pg_schema_url: str, settings: AuditSettings) -> Iterator[Store]:
    s = open_store(pg_schema_url)
    assert install_checkpointing(s, settings, lambda: T0) is not None
    yield s
    s.dispose()


def append(store: Store, n: int) -> None:
    for i in range(n):
        with store.transaction() as session:
            record(
                session,
                actor="oscar",
                role="operator",
                action="monitoring.run",
                object_type="monitoring_run",
                object_id=f"credit-scoring/run-{i}",
                payload={"i": i},
                at=T0 + timedelta(seconds=i),
            )


def test_verify_reads_the_checkpoints_from_s3_and_catches_a_rewrite(
    store: Store, settings: AuditSettings, bucket: tuple[str, Any]
) -> None:
    append(store, 9)  # the checkpointer signs after the first event, then every 4
    report = verify_audit(store, settings)
    assert report.status == STATUS_ANCHORED, report.problems
    assert [c.size for c in report.checkpoints] == [1, 5, 9]
    assert all(len(c.anchors) == 2 for c in report.checkpoints)
    assert any(a.startswith("s3://") for a in report.checkpoints[-1].anchors)

    # From the S3 bucket alone (quorum 1) it verifies too: verify reads the anchors themselves.
    only_s3 = AuditSettings(**{**settings.__dict__, "anchors": settings.anchors[:1], "quorum": 1})
    assert verify_audit(store, only_s3).status == STATUS_ANCHORED

    # A superuser rewrites event 3 and recomputes every hash after it, and the head.
    rechain(store, edit_seq=3, actor="mallory")
    report = verify_audit(store, only_s3)
    assert report.status == STATUS_BROKEN
    assert any("anchored checkpoint of size 5" in p for p in report.problems)

    # The S3 copy of that checkpoint is locked: its version cannot be deleted.
    name, client = bucket
    listed = client.list_object_versions(Bucket=name, Prefix="audit/checkpoints/")
    version = listed["Versions"][0]
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
