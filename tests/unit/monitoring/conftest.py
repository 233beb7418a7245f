"""Fixtures for monitoring: a workspace with the reference model's spec in the inventory (no
training: the tests need its label values, subject key and features, not a booster) and
decisions stored as the decision log stores them (pseudonymised, features sealed)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import yaml

from riskops.context import Context
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys, seal_features
from riskops.privacy.pseudonyms import pseudonym
from riskops.store.tables import DecisionRecord, ModelRecord, ModelVersionRecord, table_of
from tests.conftest import SPEC

MODEL = "credit-scoring"


def add_version(ctx: Context, version: int = 1, *, subject_key: str | None = "customer_id") -> None:
    """Put ``MODEL@version`` in the inventory with the reference spec (``subject_key`` set)."""
    raw = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    raw["data"]["subject_key"] = subject_key
    now = ctx.clock()
    with ctx.store.transaction() as session:
        if session.get(ModelRecord, MODEL) is None:
            session.add(
                ModelRecord(
                    name=MODEL,
                    risk_tier="high",
                    owner="credit-risk-analytics",
                    intended_use="tests",
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
        session.add(
            ModelVersionRecord(
                model_name=MODEL,
                version=version,
                state="production",
                digest="sha256:" + "0" * 64,
                artifact_uri="file:///nowhere",
                mlflow_run_id="run",
                flavor="lightgbm",
                data_fingerprint="sha256:" + "1" * 64,
                data_source="tests",
                data_rows=0,
                code_commit=None,
                code_dirty=False,
                code_diff_sha256=None,
                trainer_sha256="sha256:" + "2" * 64,
                spec_sha256="sha256:" + "3" * 64,
                spec_yaml=yaml.safe_dump(raw, sort_keys=False),
                params={},
                metrics={},
                packages={},
                trained_by="alice",
                created_at=now,
                updated_at=now,
            )
        )


@dataclass(frozen=True)
class Logged:
    decision_id: str
    subject_id: str
    score: float | None
    decided_at: datetime
    decision: str


def log_decisions(
    ctx: Context,
    rows: Sequence[Mapping[str, Any]],
    *,
    model: str = MODEL,
    version: int = 1,
    approve_below: float = 0.2,
    decline_from: float = 0.5,
) -> list[Logged]:
    """Store one decision per row (``subject_id``, ``score``, ``decided_at``, ``features``,
    ``served`` — False for a shadow decision)
    as the decision log does: subject pseudonymised, features sealed under its key."""
    secrets = bind_secrets(ctx.settings, ctx.store)
    keys = SubjectKeys(ctx.store, secrets, ctx.clock)
    logged: list[Logged] = []
    values: list[dict[str, Any]] = []
    with ctx.store.transaction() as session:
        subjects = {pseudonym(secrets, str(r["subject_id"])) for r in rows}
        subject_keys = keys.keys_for(session, subjects)
        for row in rows:
            subject = pseudonym(secrets, str(row["subject_id"]))
            nonce, sealed = seal_features(
                subject_keys[subject], subject, dict(row.get("features", {}))
            )
            score = row["score"]
            if score is None:
                outcome = "refer"
            elif score < approve_below:
                outcome = "approve"
            elif score >= decline_from:
                outcome = "decline"
            else:
                outcome = "refer"
            decision_id = str(uuid.uuid4())
            values.append(
                {
                    "id": decision_id,
                    "decided_at": row["decided_at"],
                    "model_name": model,
                    "version": version,
                    "digest": "sha256:" + "0" * 64,
                    "route": "champion" if row.get("served", True) else "shadow",
                    "served": row.get("served", True),
                    "subject": subject,
                    "score": score,
                    "decision": outcome,
                    "reasons": [],
                    "latency_ms": 1.0,
                    "fallback": score is None,
                    "request_sha256": "0" * 64,
                    "features_nonce": nonce,
                    "features_ciphertext": sealed,
                    "batch_id": None,
                    "client": None,
                }
            )
            logged.append(
                Logged(decision_id, str(row["subject_id"]), score, row["decided_at"], outcome)
            )
        session.execute(table_of(DecisionRecord).insert(), values)
    return logged


@pytest.fixture
def workspace(ctx: Context) -> Context:
    """A workspace with ``credit-scoring@1`` in the inventory."""
    add_version(ctx)
    return ctx
