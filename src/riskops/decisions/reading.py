"""Reading a stored decision back, its features decrypted while the subject's key exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag

from riskops.decisions.records import StoredDecision
from riskops.privacy.keys import SubjectKeys, open_features
from riskops.store import Store
from riskops.store.tables import (
    DecisionRecord,
)


def read_stored(store: Store, keys: SubjectKeys, decision_id: str) -> StoredDecision | None:
    """A flushed decision from the store, its features decrypted while the subject's key
    exists (after erasure ``features`` is None and ``erased`` True); None if not stored."""
    with store.reading() as session:
        row = session.get(DecisionRecord, decision_id)
        if row is None:
            return None
        key = keys.keys_for(session, [row.subject], create=False).get(row.subject)
    features = None
    if key is not None and row.features_nonce is not None and row.features_ciphertext:
        try:
            features = open_features(key, row.subject, row.features_nonce, row.features_ciphertext)
        except InvalidTag:
            features = None  # a newer key: the one that sealed these was erased
    return StoredDecision(
        decision_id=row.id,
        decided_at=row.decided_at,
        model_name=row.model_name,
        version=row.version,
        digest=row.digest,
        route=row.route,
        served=row.served,
        subject=row.subject,
        score=row.score,
        decision=row.decision,
        reasons=with_values(row.reasons, features),
        latency_ms=row.latency_ms,
        fallback=row.fallback,
        request_sha256=row.request_sha256,
        features=features,
        erased=features is None,
        flushed=True,
        batch_id=row.batch_id,
        client=row.client,
        environment=row.environment,
    )


def with_values(
    reasons: Sequence[Mapping[str, Any]], features: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The stored reasons with each reason's input value put back from the decrypted
    features; after erasure (no features) the reasons keep only code, text and contribution."""
    out = []
    for reason in reasons:
        item = dict(reason)
        if features is not None and item.get("code") in features:
            item["value"] = features[item["code"]]
        out.append(item)
    return out
