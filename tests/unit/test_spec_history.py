"""The spec's ``history`` section and the time split: every bad section is refused with the
field named and what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from riskops.errors import SpecError
from riskops.spec import dump_spec, parse_spec
from tests.conftest import REPO

REFERENCE = REPO / "models" / "transaction_risk" / "model.yaml"


def variant(edit: Callable[[dict[str, Any]], None]) -> str:
    raw = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    edit(raw)
    return yaml.safe_dump(raw)


def refused(edit: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    with pytest.raises(SpecError, match="is not a valid model spec") as caught:
        parse_spec(variant(edit))
    return {p.location: p.message for p in caught.value.problems}


def test_the_reference_spec_round_trips() -> None:
    spec = parse_spec(REFERENCE.read_text(encoding="utf-8")).spec
    assert spec.history is not None
    assert spec.history.horizon_days == 37  # 30-day fraud rate behind a 7-day delay
    assert parse_spec(dump_spec(spec)).spec == spec


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (
            lambda r: r["history"]["features"][0].update(entity="merchant"),
            "history.features[0] (customer_tx_count_1d).entity",
            "'customer' or 'terminal'",
        ),
        (
            lambda r: r["history"]["features"][0].update(aggregate="median"),
            "history.features[0] (customer_tx_count_1d).aggregate",
            "'count', 'sum', 'mean' or 'fraud_rate'",
        ),
        (
            lambda r: r["history"]["features"][0].update(window_days=0),
            "history.features[0] (customer_tx_count_1d).window_days",
            "greater than or equal to 1",
        ),
        (
            lambda r: r["history"].update(label_delay_days=-1),
            "history.label_delay_days",
            "greater than or equal to 0",
        ),
        (lambda r: r["history"].pop("time_column"), "history.time_column", "required key"),
        (lambda r: r["history"].update(window=3), "history.window", "unknown key"),
        (
            lambda r: r["history"]["entities"].pop("terminal"),
            "history",
            "history.entities does not name",
        ),
        (
            lambda r: r["history"]["features"].append(dict(r["history"]["features"][0])),
            "history",
            "listed twice: customer_tx_count_1d",
        ),
        (
            lambda r: r["history"]["entities"].update(terminal="CUSTOMER_ID"),
            "history",
            "CUSTOMER_ID is used twice",
        ),
        (
            lambda r: r["features"].pop(1),
            "(top level)",
            "'customer_tx_count_1d' is not listed in features",
        ),
        (
            lambda r: r["features"].append(
                {"name": "CUSTOMER_ID", "type": "numeric", "reason": "the card"}
            ),
            "(top level)",
            "CUSTOMER_ID identifies the transaction",
        ),
        (
            lambda r: r["data"].update(out_of_time="later.csv"),
            "(top level)",
            "data.out_of_time cannot be used with history",
        ),
    ],
)
def test_bad_history_sections_are_refused(
    edit: Callable[[dict[str, Any]], None], where: str, message: str
) -> None:
    problems = refused(edit)
    assert where in problems, problems
    assert message in problems[where]


def test_a_history_feature_must_be_numeric() -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][1] = {
            "name": "customer_tx_count_1d",
            "type": "categorical",
            "categories": ["few", "many"],
            "reason": "count",
        }

    assert "must be a numeric feature" in refused(edit)["(top level)"]


def test_the_time_split_needs_a_time_column() -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw.pop("history")
        raw["features"] = raw["features"][:1]

    problems = refused(edit)
    assert "data.split.time_column" in problems["(top level)"]

    def with_column(raw: dict[str, Any]) -> None:
        edit(raw)
        raw["data"]["split"]["time_column"] = "TX_DATETIME"

    assert parse_spec(variant(with_column)).spec.data.split.time_column == "TX_DATETIME"

    def stratified(raw: dict[str, Any]) -> None:
        raw["data"]["split"] = {"method": "stratified", "time_column": "TX_DATETIME"}

    assert "applies to method: time only" in refused(stratified)["data.split"]
