"""The transaction a request carries: each bad field named, keys and times read one way, and a
store that does not answer is a retryable BackendError."""

from __future__ import annotations

import pytest

from riskops.errors import BackendError, ProblemsError
from riskops.history.definitions import format_time, parse_time
from riskops.history.online import HistoryLookup
from riskops.history.store import open_online_store
from tests.unit.history.conftest import small_spec

GOOD = {
    "TRANSACTION_ID": "tx-1",
    "TX_DATETIME": "2018-04-01 10:00:00",
    "CUSTOMER_ID": 12,
    "TERMINAL_ID": "t-9",
    "TX_AMOUNT": 12.5,
}


@pytest.fixture
def lookup() -> HistoryLookup:
    return HistoryLookup(small_spec(), open_online_store("memory://"))


def test_a_good_request_is_enriched(lookup: HistoryLookup) -> None:
    features, transaction = lookup.enrich(GOOD)
    assert features == {
        "TX_AMOUNT": 12.5,
        "c_count_1d": 0.0,
        "c_sum_1d": 0.0,
        "c_mean_7d": 0.0,
        "t_count_7d": 0.0,
        "t_rate_2d": 0.0,
    }
    assert transaction.keys == {"customer": "12", "terminal": "t-9"}
    assert transaction.units == 1250
    assert lookup.record(transaction)
    later = {**GOOD, "TRANSACTION_ID": "tx-2", "TX_DATETIME": "2018-04-01T12:00:00+02:00"}
    features, _ = lookup.enrich(later)  # 10:00 UTC: the same instant, so tx-1 is not seen
    assert features["c_count_1d"] == 0.0
    features, _ = lookup.enrich({**later, "TX_DATETIME": "2018-04-01 10:00:01"})
    assert (features["c_count_1d"], features["c_sum_1d"]) == (1.0, 12.5)


def test_every_bad_field_is_named(lookup: HistoryLookup) -> None:
    bad = {
        "TX_DATETIME": "next tuesday",
        "CUSTOMER_ID": True,
        "TERMINAL_ID": "",
        "TX_AMOUNT": "12.50",
        "t_count_7d": 4,
    }
    with pytest.raises(ProblemsError, match="has 6 problem") as caught:
        lookup.enrich(bad)
    problems = {p.location: (p.code, p.message) for p in caught.value.problems}
    assert problems["TRANSACTION_ID"] == ("missing", "is required: the transaction id")
    assert problems["TX_DATETIME"][0] == "invalid"
    assert "not an ISO 8601 time" in problems["TX_DATETIME"][1]
    assert problems["CUSTOMER_ID"][0] == "wrong_type"
    assert problems["TERMINAL_ID"][0] == "wrong_type"
    assert problems["TX_AMOUNT"] == ("wrong_type", "must be a finite number")
    assert "computed by the server" in problems["t_count_7d"][1]
    assert caught.value.hint is not None
    assert "docs/history-features.md" in caught.value.hint


def test_a_time_must_be_text(lookup: HistoryLookup) -> None:
    with pytest.raises(ProblemsError, match="1 problem") as caught:
        lookup.enrich({**GOOD, "TX_DATETIME": 1522576800})
    assert "must be ISO 8601 text" in caught.value.problems[0].message


def test_times_are_utc_microseconds() -> None:
    assert parse_time("1970-01-01 00:00:01") == 1_000_000
    assert parse_time("1970-01-01T01:00:00.5+01:00") == 500_000
    assert format_time(parse_time("2018-04-01 00:00:31")) == "2018-04-01 00:00:31"


def test_a_store_that_does_not_answer_is_a_retryable_backend_error() -> None:
    lookup = HistoryLookup(small_spec(), open_online_store("redis://127.0.0.1:1/0"))
    with pytest.raises(BackendError, match="did not answer") as caught:
        lookup.enrich(GOOD)
    assert caught.value.retry_after == 1
