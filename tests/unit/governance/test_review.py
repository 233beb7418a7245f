from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from riskops.context import Context
from riskops.governance.review import add_months, review_inventory
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import SPEC, approve_and_deploy

VALIDATED_AT = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_next_review_is_the_last_validation_plus_the_tiers_months(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    clock = Clock(VALIDATED_AT)
    ctx.clock = clock
    production = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, production)

    def medium(raw: dict[str, Any]) -> None:
        raw["name"] = "card-limits"
        raw["risk_tier"] = "medium"
        raw["owner"] = "card-risk"

    clock.now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    not_deployed = train(ctx, spec_copy(medium, name="medium"), actor="alice").ref
    validate(ctx, not_deployed, actor="victor")

    def low(raw: dict[str, Any]) -> None:
        raw["name"] = "collections-triage"
        raw["risk_tier"] = "low"

    train(ctx, spec_copy(low, name="low"), actor="alice")

    clock.now = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
    on_the_day = {e.name: e for e in review_inventory(ctx).entries}
    assert list(on_the_day) == ["card-limits", "collections-triage", "credit-scoring"]
    credit = on_the_day["credit-scoring"]
    assert credit.as_dict() == {
        "model": "credit-scoring",
        "risk_tier": "high",
        "owner": "credit-risk-analytics",
        "production_version": 1,
        "reviewed_version": 1,
        "state": "approved",
        "last_validation": "2026-01-31T09:30:00+00:00",
        "review_months": 12,
        "next_review": "2027-01-31",
        "days_to_review": 0,
        "overdue": False,
        "open_findings": 0,
        "overdue_findings": 0,
        "open_blocking_conditions": 0,
    }
    card = on_the_day["card-limits"]
    assert (card.production_version, card.reviewed_version, card.state) == (None, 1, "validated")
    assert (card.review_months, card.next_review) == (24, date(2028, 3, 15))
    never = on_the_day["collections-triage"]
    assert (never.state, never.last_validation, never.next_review, never.overdue) == (
        "candidate",
        None,
        None,
        False,
    )

    clock.now += timedelta(minutes=1)  # 2027-02-01: a day late
    later = review_inventory(ctx)
    assert [e.name for e in later.overdue] == ["credit-scoring"]
    assert later.as_dict()["overdue"] == ["credit-scoring"]
    assert later.as_dict()["models"][2]["overdue"] is True
    assert later.as_dict()["models"][2]["days_to_review"] == -1
    assert later.as_dict()["at"] == "2027-02-01T00:00:00+00:00"

    ctx.settings = replace(ctx.settings, review_months={"high": 24, "medium": 6, "low": 36})
    stricter = {e.name: e for e in review_inventory(ctx).entries}
    assert stricter["credit-scoring"].next_review == date(2028, 1, 31)
    assert not stricter["credit-scoring"].overdue
    assert stricter["card-limits"].next_review == date(2026, 9, 15)
    assert stricter["card-limits"].overdue


def test_an_empty_workspace_has_an_empty_inventory(ctx: Context) -> None:
    assert review_inventory(ctx).entries == ()


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 12) == date(2027, 12, 15)
    assert add_months(date(2026, 12, 15), 36) == date(2029, 12, 15)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2500, 12, 31)),
    st.integers(min_value=0, max_value=600),
)
def test_adding_months_moves_the_month_by_exactly_that_many(start: date, months: int) -> None:
    moved = add_months(start, months)
    assert (moved.year * 12 + moved.month) - (start.year * 12 + start.month) == months
    assert moved.day == min(start.day, calendar.monthrange(moved.year, moved.month)[1])
    assert moved >= start


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2500, 12, 28)).filter(
        lambda d: d.day <= 28
    ),
    st.integers(min_value=0, max_value=300),
    st.integers(min_value=0, max_value=300),
)
def test_adding_months_composes_below_the_29th(start: date, a: int, b: int) -> None:
    assert add_months(add_months(start, a), b) == add_months(start, a + b)
