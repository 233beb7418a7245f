"""A synthetic population for monitoring tests: a small spec, a reference sample with its
fitted profile, and windows of decisions replayed into the aggregates as the flusher writes
them (same function, same transaction shape), without the WAL and encryption around it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from riskops.decisions.aggregates import PlanCache, aggregate_batch, plan_from_spec
from riskops.monitoring.runs import VersionInfo
from riskops.profiles.profile import ReferenceProfile, fit_profile
from riskops.spec import ModelSpec, parse_spec
from riskops.store import Store
from riskops.store.tables import DecisionBatchRecord

MODEL = "card-risk"
SPEC_TEXT = """
name: card-risk
intended_use: Risk of default on a synthetic card portfolio, for tests.
risk_tier: low
owner: tests
data:
  source: unused.csv
  label: {column: bad, positive: 1, negative: 0}
features:
  - {name: income, type: numeric, reason: Income}
  - {name: utilisation, type: numeric, reason: Utilisation}
  - {name: tenure, type: numeric, reason: Tenure}
  - {name: channel, type: categorical, categories: [web, branch, phone], reason: Channel}
trainer: {entrypoint: "trainer.py:fit"}
policy: {approve_below: 0.3, decline_from: 0.6}
"""
CHANNELS = np.array(["web", "branch", "phone"], dtype=object)


def spec(**monitoring: Any) -> ModelSpec:
    text = SPEC_TEXT
    if monitoring:
        import yaml

        text += yaml.safe_dump({"monitoring": monitoring})
    return parse_spec(text).spec


def draw(
    rng: np.random.Generator, n: int, *, income_shift: float = 0.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows of the population (``income_shift``: its mean moved by that many std)."""
    income = rng.normal(income_shift, 1.0, n)
    utilisation = rng.beta(2.0, 5.0, n)
    tenure = rng.exponential(3.0, n)
    channel = CHANNELS[rng.choice(3, n, p=[0.6, 0.3, 0.1])]
    score = 1.0 / (1.0 + np.exp(-(-0.8 - 0.3 * income + 2.0 * utilisation - 0.05 * tenure)))
    columns = {"income": income, "utilisation": utilisation, "tenure": tenure, "channel": channel}
    return columns, score


def reference(seed: int = 1, n: int = 20_000, **monitoring: Any) -> VersionInfo:
    the_spec = spec(**monitoring)
    columns, score = draw(np.random.default_rng(seed), n)
    return VersionInfo(the_spec, fit_profile(MODEL, 1, the_spec, columns, score))


def outcome(score: float, the_spec: ModelSpec) -> str:
    if score < the_spec.policy.approve_below:
        return "approve"
    return "decline" if score >= the_spec.policy.decline_from else "refer"


def replay(
    store: Store,
    info: VersionInfo,
    columns: dict[str, np.ndarray],
    score: np.ndarray,
    *,
    hour: datetime,
    environment: str = "production",
    batch_size: int = 256,
    model: str = MODEL,
    version: int = 1,
    latency_ms: float = 0.7,
) -> None:
    """Aggregate these decisions as the flusher would, in batches of ``batch_size``, each
    answered in ``latency_ms``."""
    assert info.spec is not None
    profile: ReferenceProfile | None = info.profile
    plans = PlanCache(lambda s, m, v, d: plan_from_spec(info.spec, profile))  # type: ignore[arg-type]
    n = score.size
    names = list(columns)
    for begin in range(0, n, batch_size):
        stop = min(begin + batch_size, n)
        pairs = []
        for i in range(begin, stop):
            features = {k: _plain(columns[k][i]) for k in names}
            row = {
                "model_name": model,
                "version": version,
                "environment": environment,
                "decided_at": hour + timedelta(seconds=i % 3600),
                "decision": outcome(float(score[i]), info.spec),
                "fallback": False,
                "latency_ms": latency_ms,
                "score": float(score[i]),
                "digest": "sha256:" + "a" * 64,
            }
            pairs.append((row, features))
        with store.transaction() as session:
            aggregate_batch(session, _batch(session, hour), pairs, plans)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _batch(session: Session, hour: datetime) -> int:
    batch = DecisionBatchRecord(
        merkle_root="0" * 64,
        count=0,
        first_decided_at=hour,
        last_decided_at=hour,
        audit_seq=0,
        created_at=hour,
    )
    session.add(batch)
    session.flush()
    return batch.id
