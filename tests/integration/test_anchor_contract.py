"""One contract for every readable anchor (the append-only file and S3 Object Lock on a real
SeaweedFS): what is published is read back, per origin, oldest first, with its entries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from riskops.audit.anchors import FileAnchor, Publication, S3ObjectLockAnchor
from tests.integration.conftest import _Weed, s3_client

pytestmark = pytest.mark.integration

Readable = FileAnchor | S3ObjectLockAnchor


@pytest.fixture(params=["file", "s3"])
def make_anchor(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Readable]:
    """A factory of anchors over one place (a second call sees what the first published)."""
    if request.param == "file":
        return lambda: FileAnchor(tmp_path / "checkpoints.jsonl")
    weed: _Weed = request.getfixturevalue("_seaweedfs")
    client = s3_client(weed.endpoint, weed.key, weed.secret)
    bucket = f"riskops-contract-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return lambda: S3ObjectLockAnchor(
        bucket=bucket, prefix="contract", retention_days=1, client=client, page_size=2
    )


def publication(origin: str, size: int, first: int, signatures: str = "") -> Publication:
    entries = b"".join(
        json.dumps({"origin": origin, "i": i}).encode() + b"\n" for i in range(first, size)
    )
    note = f"{origin}\n{size}\nroot{size}=\n\n— {origin} c2ln{size}\n{signatures}"
    return Publication(
        origin=origin, size=size, note=note, first=first, entries=entries, consistency=list
    )


A = "a.example/log"
B = "a.example%2Flog"  # percent-encodes to the same as A would if "%" were not encoded too


def test_published_checkpoints_read_back_per_origin_oldest_first(
    make_anchor: Callable[[], Readable],
) -> None:
    anchor = make_anchor()
    assert anchor.readable is True
    assert anchor.checkpoints(A) == []
    anchor.publish(publication(A, 2, 0))
    anchor.publish(publication(B, 5, 0))
    anchor.publish(publication(A, 9, 2))
    anchor.publish(publication(A, 10, 9))
    again = make_anchor()
    assert again.checkpoints(A) == [
        publication(A, 2, 0).note,
        publication(A, 9, 2).note,
        publication(A, 10, 9).note,
    ]
    assert again.checkpoints(B) == [publication(B, 5, 0).note]
    assert again.entries(A, 2, 9) == publication(A, 2 + 7, 2).entries


def test_a_republished_checkpoint_keeps_both_notes(make_anchor: Callable[[], Readable]) -> None:
    anchor = make_anchor()
    plain = publication(A, 4, 0)
    cosigned = publication(A, 4, 0, signatures="— witness.example/w1 Y29zaWdu\n")
    anchor.publish(plain)
    anchor.publish(cosigned)
    assert anchor.checkpoints(A) == [plain.note, cosigned.note]
