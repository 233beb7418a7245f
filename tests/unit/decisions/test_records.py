"""The leaf hash of a stored decision: its client is sealed when it has one, and a decision
without one hashes exactly as before clients existed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from riskops.decisions.records import decision_leaf

ROW: dict[str, Any] = {
    "id": "0b0d7a6e-0000-4000-8000-000000000001",
    "decided_at": datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC),
    "model_name": "credit-scoring",
    "version": 2,
    "digest": "sha256:" + "d" * 64,
    "route": "champion",
    "served": True,
    "subject": "a" * 64,
    "score": 0.6125,
    "decision": "decline",
    "reasons": [{"code": "duration_in_month", "text": "Too long", "contribution": 0.41}],
    "latency_ms": 0.8,
    "fallback": False,
    "request_sha256": "e" * 64,
    "features_nonce": b"\x01" * 12,
    "features_ciphertext": b"\x02" * 40,
}


def leaf_before_clients(row: dict[str, Any]) -> str:
    """The leaf as docs/audit-chain.md defined it before decisions had a client."""
    fields = {
        **{k: row[k] for k in ROW if not k.startswith("features_")},
        "decided_at": "2026-12-07T09:30:00.123456Z",
        "features_nonce": row["features_nonce"].hex(),
        "features_ciphertext": row["features_ciphertext"].hex(),
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_decision_without_a_client_hashes_as_before() -> None:
    assert decision_leaf(ROW) == leaf_before_clients(ROW)
    assert decision_leaf({**ROW, "client": None}) == leaf_before_clients(ROW)


def test_a_decision_s_client_is_in_its_leaf() -> None:
    a = decision_leaf({**ROW, "client": "bank-a"})
    b = decision_leaf({**ROW, "client": "bank-b"})
    assert len({a, b, leaf_before_clients(ROW)}) == 3
    # The documented definition: the fields of before, plus "client".
    expected = {
        **{k: ROW[k] for k in ROW if not k.startswith("features_")},
        "decided_at": "2026-12-07T09:30:00.123456Z",
        "features_nonce": ROW["features_nonce"].hex(),
        "features_ciphertext": ROW["features_ciphertext"].hex(),
        "client": "bank-a",
    }
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert a == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_decision_s_environment_is_in_its_leaf_only_when_recorded() -> None:
    assert decision_leaf({**ROW, "environment": None}) == leaf_before_clients(ROW)
    staged = decision_leaf({**ROW, "client": "bank-a", "environment": "staging"})
    expected = {
        **{k: ROW[k] for k in ROW if not k.startswith("features_")},
        "decided_at": "2026-12-07T09:30:00.123456Z",
        "features_nonce": ROW["features_nonce"].hex(),
        "features_ciphertext": ROW["features_ciphertext"].hex(),
        "client": "bank-a",
        "environment": "staging",
    }
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert staged == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert staged != decision_leaf({**ROW, "client": "bank-a", "environment": "production"})
