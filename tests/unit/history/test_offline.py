"""Offline history features: the point-in-time rule on hand-checked rows, no leakage of any
later transaction or any label newer than the delay (property test), and bad data refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import DataSchemaError
from riskops.history.offline import history_events, history_frame
from tests.unit.history.conftest import random_frame, small_spec

SPEC = small_spec()


def frame_of(rows: list[tuple[str, str, str, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "TRANSACTION_ID": i,
                "TX_DATETIME": when,
                "CUSTOMER_ID": c,
                "TERMINAL_ID": t,
                "TX_AMOUNT": f"{amount:.2f}",
                "TX_FRAUD": str(fraud),
            }
            for i, (_, when, c, t, amount, fraud) in enumerate(rows)
        ],
        dtype="string",
    )


def test_windows_count_only_earlier_transactions_and_delayed_labels() -> None:
    frame = frame_of(
        [
            ("a", "2018-04-01 10:00:00", "c1", "t1", 10.00, 1),
            ("b", "2018-04-01 12:00:00", "c1", "t1", 20.00, 0),
            ("c", "2018-04-01 12:00:00", "c1", "t2", 5.00, 0),  # same instant as b
            ("d", "2018-04-02 11:00:00", "c1", "t1", 40.00, 0),  # a is 25 h old, b 23 h
            ("e", "2018-04-09 11:00:00", "c2", "t1", 1.00, 0),
        ]
    )
    out = history_frame(frame, SPEC, source="rows")
    # b sees a only; c (same instant as b) does not see b.
    assert out["c_count_1d"].tolist() == [0.0, 1.0, 1.0, 2.0, 0.0]
    assert out["c_sum_1d"].tolist() == [0.0, 10.0, 10.0, 25.0, 0.0]
    # (units ÷ count) ÷ scale, the one formula of both paths: 3500 ÷ 3 ÷ 100.
    assert out["c_mean_7d"].tolist() == [0.0, 10.0, 10.0, 3500 / 3 / 100, 0.0]
    assert out["t_count_7d"].tolist() == [0.0, 1.0, 0.0, 2.0, 1.0]
    # d: b and c are 23 h old, a 25 h. Labels of t1 older than 1 day in [t - 3d, t - 1d): a (fraud) only -> 1/1.
    # e: t1 window [04-06 11:00, 04-08 11:00) is empty -> 0.
    assert out["t_rate_2d"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]


@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 60), data=st.data())
def test_no_later_transaction_or_recent_label_changes_a_row(
    seed: int, rows: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    frame = random_frame(rng, rows)
    i = data.draw(st.integers(0, rows - 1), label="row")
    before = history_frame(frame, SPEC, source="random").iloc[i]

    changed = frame.copy()
    times = pd.to_datetime(frame["TX_DATETIME"])
    later = (times >= times[i]).to_numpy().copy()  # the row itself and every row at or after it
    later[i] = False  # keep the row's own keys and time; its amount and label may change
    recent = (times >= times[i] - pd.Timedelta(days=1)).to_numpy()  # labels not yet known
    other = random_frame(np.random.default_rng(seed + 1), rows)
    for column in ("CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"):
        changed.loc[later, column] = other.loc[later, column]
    changed.loc[recent, "TX_FRAUD"] = other.loc[recent, "TX_FRAUD"]
    changed.loc[i, "TX_AMOUNT"] = "999.99"
    extra = random_frame(np.random.default_rng(seed + 2), 5)
    extra["TX_DATETIME"] = frame["TX_DATETIME"][i]  # added at the same instant, or later
    extra["TRANSACTION_ID"] = [f"x{k}" for k in range(5)]
    grown = pd.concat([changed, extra], ignore_index=True)

    after = history_frame(grown, SPEC, source="random").iloc[i]
    assert after.to_dict() == before.to_dict()


def test_row_order_does_not_matter() -> None:
    frame = random_frame(np.random.default_rng(7), 80)
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert (
        history_frame(shuffled, SPEC, source="s")
        .sort_index()
        .equals(history_frame(frame, SPEC, source="f"))
    )


def test_unreadable_history_columns_are_named() -> None:
    frame = random_frame(np.random.default_rng(1), 5)
    frame.loc[2, "TX_DATETIME"] = "yesterday"
    frame.loc[3, "TX_AMOUNT"] = "ten"
    frame.loc[4, "CUSTOMER_ID"] = pd.NA
    with pytest.raises(DataSchemaError, match="cannot be read") as caught:
        history_frame(frame, SPEC, source="bad.csv")
    where = {p.location: p.message for p in caught.value.problems}
    assert "not ISO 8601" in where["TX_DATETIME"]
    assert "row 3" in where["TX_DATETIME"]
    assert "not numbers" in where["TX_AMOUNT"]
    assert "missing customer key" in where["CUSTOMER_ID"]


def test_missing_history_columns_are_named() -> None:
    frame = random_frame(np.random.default_rng(1), 5).drop(columns=["TERMINAL_ID"])
    with pytest.raises(DataSchemaError, match="lacks the history column") as caught:
        history_frame(frame, SPEC, source="bad.csv")
    assert [p.location for p in caught.value.problems] == ["TERMINAL_ID"]


def test_events_need_distinct_ids() -> None:
    frame = random_frame(np.random.default_rng(1), 5)
    frame.loc[1, "TRANSACTION_ID"] = "0"
    with pytest.raises(DataSchemaError, match="distinct transaction id"):
        history_events(frame, SPEC, source="dup.csv")
