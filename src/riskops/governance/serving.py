"""Which versions may serve in an environment, and in which lane: governance's answer, which
the scoring server asks for and never re-derives.

Per model, from the deployment history of the environment (``deployments`` rows, oldest
first):

- the **champion** is the version of the newest ``full`` row (a deploy or a rollback);
- the **canary** is the newest ``canary`` row newer than the champion's, for another version,
  answering ``share`` of subjects;
- **shadows** are the ``shadow`` rows newer than the champion's, for versions other than the
  champion and the canary: scored and logged, never returned.

A planned version is **eligible** only if it is ``approved`` and carries both sign-offs: a
validator's and a risk officer's approval. One that is not is left out of the plan and logged
(``Not serving NAME@VERSION: why``); a model whose champion is left out keeps its other lanes
out of the answer too, since a canary or a shadow runs only beside a champion.

Example::

    with ctx.store.reading() as session:
        for planned in serving_plan(session, "production"):
            print(planned.model, planned.version, planned.lane, planned.share)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.config import Role
from riskops.governance.lifecycle import State
from riskops.store.tables import ApprovalRecord, DeploymentRecord, ModelVersionRecord

log = logging.getLogger(__name__)

Lane = Literal["champion", "canary", "shadow"]
SIGN_OFFS: frozenset[str] = frozenset({Role.VALIDATOR.value, Role.RISK_OFFICER.value})
"""The roles whose approval a version needs before it may serve."""


@dataclass(frozen=True)
class Planned:
    """One version that may serve, and how: its approved ``digest`` (the only artifact it may
    be loaded from), its ``lane`` and, for a canary, the ``share`` of subjects it answers."""

    model: str
    version: int
    digest: str
    lane: Lane
    share: float | None


def serving_plan(session: Session, environment: str) -> list[Planned]:
    """Every eligible version that should serve in ``environment``, by model name, champion
    first, then the canary, then shadows in the order they were deployed."""
    rows = list(
        session.execute(
            select(DeploymentRecord)
            .where(DeploymentRecord.environment == environment)
            .order_by(DeploymentRecord.id)
        ).scalars()
    )
    plan: list[Planned] = []
    for name in sorted({r.model_name for r in rows}):
        for row, lane in _lanes([r for r in rows if r.model_name == name]):
            record = _version(session, name, row.version)
            why = _why_not(session, record)
            if record is None or why is not None:
                log.error("Not serving %s@%s: %s", name, row.version, why)
                if lane == "champion":
                    break
                continue
            plan.append(Planned(name, row.version, record.digest, lane, row.share))
    return plan


def ineligibility(session: Session, model: str, version: int) -> str | None:
    """Why ``model@version`` may not serve, or None when it may (approved, both sign-offs)."""
    return _why_not(session, _version(session, model, version))


def _why_not(session: Session, record: ModelVersionRecord | None) -> str | None:
    if record is None:
        return "no such version in the store"
    if record.state != State.APPROVED:
        return f"it is '{record.state}', not 'approved'"
    roles = set(
        session.execute(
            select(ApprovalRecord.role).where(
                ApprovalRecord.model_name == record.model_name,
                ApprovalRecord.version == record.version,
                ApprovalRecord.decision == "approve",
            )
        ).scalars()
    )
    missing = SIGN_OFFS - roles
    if missing:
        return f"it lacks the sign-off of a {' and a '.join(sorted(missing))}"
    return None


def lanes_of(session: Session, model: str, environment: str) -> list[tuple[DeploymentRecord, Lane]]:
    """The deployment rows that put ``model``'s versions in their lanes in ``environment``,
    champion first, whether or not each version is still eligible to serve (the serving plan
    leaves an ineligible one out; a canary analysis still reports on its decisions)."""
    rows = list(
        session.execute(
            select(DeploymentRecord)
            .where(
                DeploymentRecord.environment == environment, DeploymentRecord.model_name == model
            )
            .order_by(DeploymentRecord.id)
        ).scalars()
    )
    return _lanes(rows)


def _lanes(rows: list[DeploymentRecord]) -> list[tuple[DeploymentRecord, Lane]]:
    """The rows that serve, with their lane, from one model's history (oldest first)."""
    full = [r for r in rows if r.mode == "full"]
    if not full:
        return []
    champion = full[-1]
    wanted: list[tuple[DeploymentRecord, Lane]] = [(champion, "champion")]
    later = [r for r in rows if r.id > champion.id and r.version != champion.version]
    canaries = [r for r in later if r.mode == "canary"]
    if canaries:
        wanted.append((canaries[-1], "canary"))
    # A version that answers as the canary is not also scored as a shadow.
    canary_version = canaries[-1].version if canaries else None
    shadows = {r.version: r for r in later if r.mode == "shadow" and r.version != canary_version}
    wanted.extend((r, "shadow") for r in shadows.values())
    return wanted


def _version(session: Session, model: str, version: int) -> ModelVersionRecord | None:
    return session.execute(
        select(ModelVersionRecord).where(
            ModelVersionRecord.model_name == model, ModelVersionRecord.version == version
        )
    ).scalar_one_or_none()
