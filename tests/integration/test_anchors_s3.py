"""The S3 Object Lock anchor against a real S3 server with Object Lock (SeaweedFS ``weed mini``):
checkpoints and entries are put under COMPLIANCE retention, read back by version, and a locked
checkpoint can be neither deleted nor have its retention shortened."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from riskops.audit.anchors import AnchorError, Publication, S3ObjectLockAnchor, anchor_from_config
from tests.integration.conftest import S3Server, _Weed, s3_client

pytestmark = pytest.mark.integration

ORIGIN = "riskops.test/prod"
SAFE = "riskops.test%2Fprod"


def publication(size: int, first: int) -> Publication:
    entries = b"".join(json.dumps({"seq": i}).encode() + b"\n" for i in range(first, size))
    note = f"{ORIGIN}\n{size}\nroot{size}=\n\n— {ORIGIN} c2ln{size}\n"
    return Publication(
        origin=ORIGIN, size=size, note=note, first=first, entries=entries, consistency=list
    )


def _client_error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code"))


@pytest.fixture
def weed(_seaweedfs: _Weed) -> _Weed:
    """The session's SeaweedFS server (its endpoint and credentials)."""
    return _seaweedfs


@pytest.fixture
def locked_bucket(_seaweedfs: _Weed, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A bucket created with Object Lock, and the server's credentials in the environment
    (where the anchor's client finds them). Its locked versions outlive the test by design:
    the server's folder is a temporary one."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _seaweedfs.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _seaweedfs.secret)
    client = s3_client(_seaweedfs.endpoint, _seaweedfs.key, _seaweedfs.secret)
    bucket = f"riskops-lock-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return bucket, client


def _anchor(weed: _Weed, bucket: str, tmp_path: Path, **extra: object) -> S3ObjectLockAnchor:
    table = {
        "type": "s3",
        "bucket": bucket,
        "prefix": "prod/",
        "endpoint_url": weed.endpoint,
        "region": "us-east-1",
        "retention_days": 1,
        **extra,
    }
    anchor = anchor_from_config(table, base=tmp_path)
    assert isinstance(anchor, S3ObjectLockAnchor)
    return anchor


def test_checkpoints_are_locked_and_read_back(
    weed: _Weed, locked_bucket: tuple[str, Any], tmp_path: Path
) -> None:
    bucket, client = locked_bucket
    anchor = _anchor(weed, bucket, tmp_path)
    assert anchor.name == f"s3://{bucket}/prod"
    before = datetime.now(UTC)
    anchor.publish(publication(3, 0))
    anchor.publish(publication(8, 3))
    assert anchor.checkpoints(ORIGIN) == [publication(3, 0).note, publication(8, 3).note]
    assert anchor.checkpoints("another.test/log") == []
    assert anchor.entries(ORIGIN, 3, 8) == publication(8, 3).entries

    note_key = f"prod/checkpoints/{SAFE}/{8:020d}.note"
    keys = sorted(v["Key"] for v in client.list_object_versions(Bucket=bucket)["Versions"])
    assert keys == [
        f"prod/checkpoints/{SAFE}/{3:020d}.note",
        note_key,
        f"prod/entries/{SAFE}/{0:020d}-{3:020d}.jsonl",
        f"prod/entries/{SAFE}/{3:020d}-{8:020d}.jsonl",
    ]
    retention = client.get_object_retention(Bucket=bucket, Key=note_key)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    until = retention["RetainUntilDate"]
    assert before + timedelta(days=1) - timedelta(minutes=1) <= until
    assert until <= datetime.now(UTC) + timedelta(days=1, minutes=1)

    [version] = client.list_object_versions(Bucket=bucket, Prefix=note_key)["Versions"]
    version_id = version["VersionId"]
    # A locked version cannot be deleted, bypass header or not.
    for bypass in (False, True):
        with pytest.raises(Exception, match="AccessDenied") as refused:
            client.delete_object(
                Bucket=bucket, Key=note_key, VersionId=version_id, BypassGovernanceRetention=bypass
            )
        assert _client_error_code(refused.value) == "AccessDenied"
    # Nor can its retention be shortened.
    with pytest.raises(Exception, match="PutObjectRetention") as shortened:
        client.put_object_retention(
            Bucket=bucket,
            Key=note_key,
            VersionId=version_id,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=12)},
        )
    assert _client_error_code(shortened.value) == "AccessDenied"
    assert (
        client.get_object_retention(Bucket=bucket, Key=note_key, VersionId=version_id)["Retention"][
            "RetainUntilDate"
        ]
        == until
    )

    # A plain delete only adds a delete marker: the key looks gone, the checkpoint is not.
    client.delete_object(Bucket=bucket, Key=note_key)
    with pytest.raises(Exception, match=r"NoSuchKey|Not Found|404"):
        client.get_object(Bucket=bucket, Key=note_key)
    listed = client.list_object_versions(Bucket=bucket, Prefix=note_key)
    assert [m["Key"] for m in listed.get("DeleteMarkers", [])] == [note_key]
    assert anchor.checkpoints(ORIGIN) == [publication(3, 0).note, publication(8, 3).note]


def test_reading_pages_through_every_version(
    weed: _Weed, locked_bucket: tuple[str, Any], tmp_path: Path
) -> None:
    bucket, client = locked_bucket
    anchor = _anchor(weed, bucket, tmp_path)
    sizes = [1, 2, 4, 7, 11]
    for first, size in zip([0, *sizes[:-1]], sizes, strict=True):
        anchor.publish(publication(size, first))
    client.delete_object(Bucket=bucket, Key=f"prod/checkpoints/{SAFE}/{4:020d}.note")
    anchor.page_size = 2
    firsts = [0, *sizes[:-1]]
    expected = [publication(size, first).note for first, size in zip(firsts, sizes, strict=True)]
    assert anchor.checkpoints(ORIGIN) == expected


def test_governance_mode_is_applied(
    weed: _Weed, locked_bucket: tuple[str, Any], tmp_path: Path
) -> None:
    bucket, client = locked_bucket
    anchor = _anchor(weed, bucket, tmp_path, mode="GOVERNANCE")
    anchor.publish(publication(2, 0))
    key = f"prod/checkpoints/{SAFE}/{2:020d}.note"
    assert client.get_object_retention(Bucket=bucket, Key=key)["Retention"]["Mode"] == "GOVERNANCE"
    [version] = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])


def test_a_bucket_without_object_lock_is_refused(s3_server: S3Server, tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match="does not have Object Lock enabled") as caught:
        S3ObjectLockAnchor(
            bucket=s3_server.bucket,
            prefix="prod",
            retention_days=1,
            client=s3_server.client(),
        )
    assert "--object-lock-enabled-for-bucket" in (caught.value.hint or "")


def test_a_missing_bucket_is_refused(s3_server: S3Server) -> None:
    with pytest.raises(AnchorError, match=r"s3://riskops-no-such-bucket/prod: no such bucket"):
        S3ObjectLockAnchor(
            bucket="riskops-no-such-bucket",
            prefix="prod",
            retention_days=1,
            client=s3_server.client(),
        )


def test_wrong_credentials_say_what_to_check(
    s3_server: S3Server, locked_bucket: tuple[str, Any]
) -> None:
    bucket, _ = locked_bucket
    with pytest.raises(AnchorError, match=rf"s3://{bucket}/prod: cannot read its Object Lock"):
        S3ObjectLockAnchor(
            bucket=bucket,
            prefix="prod",
            retention_days=1,
            client=s3_server.client(secret="wrong" * 8),
        )
