"""A document never shows a local absolute path: only its last parts."""

from __future__ import annotations

import pytest

from riskops.documents.locations import is_local, public_location


@pytest.mark.parametrize(
    ("value", "keep", "shown"),
    [
        (
            "file:///home/ann/ws/mlartifacts/credit-scoring/ab12/artifacts/model",
            4,
            "…/credit-scoring/ab12/artifacts/model",
        ),
        ("file:/tmp/ws/anchors/checkpoints.jsonl", 2, "…/anchors/checkpoints.jsonl"),
        ("/home/ann/data/german_credit.csv", 1, "…/german_credit.csv"),
        ("~/data/x.csv", 4, "data/x.csv"),
        ("C:\\Users\\ann\\data\\x.csv", 2, "…/data/x.csv"),
        ("file:///home/ann/my%20data/x.csv", 2, "…/my data/x.csv"),
        ("/", 2, "(a local path)"),
    ],
)
def test_a_local_path_keeps_only_its_last_parts(value: str, keep: int, shown: str) -> None:
    assert is_local(value)
    assert public_location(value, keep=keep) == shown


@pytest.mark.parametrize(
    "value", ["s3://bucket/riskops/model", "https://anchor.example/log", "german_credit.csv", ""]
)
def test_a_shared_or_relative_location_is_kept(value: str) -> None:
    assert not is_local(value)
    assert public_location(value) == value
