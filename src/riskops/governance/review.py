"""The model inventory with review dates: when each model was last validated, when its next
periodic review is due, and which reviews are overdue.

The model reviewed is the version serving in production, or the newest version when none
serves. Its last validation is the time of its latest validation run, and

    next review = last validation + review_months[risk tier]   (calendar months)

with the months per tier from ``[review_months]`` in riskops.toml (defaults high 12, medium
24, low 36). SR 11-7 and its successor SR 26-2 ask for a model inventory and a periodic review
whose frequency follows the model's risk; PRA SS1/23 principle 1 asks the same by tier.
Each entry also counts the reviewed version's findings still open (open or remediated, not yet
closed or accepted; overdue ones apart) and its open blocking conditions of approval.

Example::

    inventory = review_inventory(ctx)
    [e.name for e in inventory.entries if e.overdue]
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import select

from riskops.context import Context
from riskops.governance.conditions import conditions_of
from riskops.governance.deployments import serving_at
from riskops.governance.findings import findings_of
from riskops.registry.versions import ModelRef, get_version, latest_version
from riskops.store.tables import ModelRecord, ValidationRunRecord

PRODUCTION = "production"


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months; a day past the end of the target month becomes
    its last day (2024-01-31 + 1 month = 2024-02-29)."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ReviewEntry:
    """One model's review status as of the inventory's time."""

    name: str
    risk_tier: str
    owner: str
    production_version: int | None
    reviewed_version: int | None
    state: str | None
    last_validation: datetime | None
    review_months: int
    next_review: date | None
    overdue: bool
    days_to_review: int | None
    open_findings: int = 0
    overdue_findings: int = 0
    open_conditions: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "risk_tier": self.risk_tier,
            "owner": self.owner,
            "production_version": self.production_version,
            "reviewed_version": self.reviewed_version,
            "state": self.state,
            "last_validation": self.last_validation.isoformat() if self.last_validation else None,
            "review_months": self.review_months,
            "next_review": self.next_review.isoformat() if self.next_review else None,
            "days_to_review": self.days_to_review,
            "overdue": self.overdue,
            "open_findings": self.open_findings,
            "overdue_findings": self.overdue_findings,
            "open_blocking_conditions": self.open_conditions,
        }


@dataclass(frozen=True)
class ReviewInventory:
    """Every model's review status at ``at``."""

    kind: ClassVar[str] = "riskops.inventory/review@1"

    at: datetime
    entries: tuple[ReviewEntry, ...]

    @property
    def overdue(self) -> tuple[ReviewEntry, ...]:
        return tuple(e for e in self.entries if e.overdue)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "models": [e.as_dict() for e in self.entries],
            "overdue": [e.name for e in self.overdue],
        }


def review_inventory(ctx: Context) -> ReviewInventory:
    """Every model with its tier, owner, production version, last validation and next review,
    as of ``ctx.clock()``."""
    now = ctx.clock()
    today = now.date()
    months_by_tier = ctx.settings.review_months
    entries = []
    with ctx.store.reading() as session:
        models = session.execute(select(ModelRecord).order_by(ModelRecord.name)).scalars().all()
        for model in models:
            serving = serving_at(session, model.name, PRODUCTION)
            production = serving.version if serving is not None else None
            reviewed = production if production is not None else latest_version(session, model.name)
            state = None
            last_run = None
            pending = []
            open_conditions = 0
            if reviewed:
                pending = [
                    f
                    for f in findings_of(session, model.name, reviewed)
                    if f.status in ("open", "remediated")
                ]
                open_conditions = sum(
                    1
                    for c in conditions_of(session, ModelRef(model.name, reviewed))
                    if c.blocking and c.status == "open"
                )
                state = get_version(session, ModelRef(model.name, reviewed)).state
                last_run = session.execute(
                    select(ValidationRunRecord.created_at)
                    .where(
                        ValidationRunRecord.model_name == model.name,
                        ValidationRunRecord.version == reviewed,
                    )
                    .order_by(ValidationRunRecord.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
            months = months_by_tier.get(model.risk_tier, min(months_by_tier.values()))
            next_review = add_months(last_run.date(), months) if last_run is not None else None
            days = (next_review - today).days if next_review is not None else None
            entries.append(
                ReviewEntry(
                    name=model.name,
                    risk_tier=model.risk_tier,
                    owner=model.owner,
                    production_version=production,
                    reviewed_version=reviewed or None,
                    state=state,
                    last_validation=last_run,
                    review_months=months,
                    next_review=next_review,
                    overdue=days is not None and days < 0,
                    days_to_review=days,
                    open_findings=len(pending),
                    overdue_findings=sum(1 for f in pending if f.overdue(today)),
                    open_conditions=open_conditions,
                )
            )
    return ReviewInventory(at=now, entries=tuple(entries))
