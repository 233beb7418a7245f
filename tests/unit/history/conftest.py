"""A small transaction-risk spec and random transaction frames for the history tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml

from riskops.spec import ModelSpec, parse_spec
from tests.conftest import REPO

REFERENCE = REPO / "models" / "transaction_risk" / "model.yaml"
SUBSET = REPO / "data" / "simulated_card_transactions" / "transactions_subset.csv.gz"

FEATURES = [
    {"name": "c_count_1d", "entity": "customer", "aggregate": "count", "window_days": 1},
    {"name": "c_sum_1d", "entity": "customer", "aggregate": "sum", "window_days": 1},
    {"name": "c_mean_7d", "entity": "customer", "aggregate": "mean", "window_days": 7},
    {"name": "t_count_7d", "entity": "terminal", "aggregate": "count", "window_days": 7},
    {"name": "t_rate_2d", "entity": "terminal", "aggregate": "fraud_rate", "window_days": 2},
]


def small_spec(**history: Any) -> ModelSpec:
    """A spec with the five features above, a label delay of 1 day, and ``history`` edits."""
    raw = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    raw["history"] = {
        "event_id": "TRANSACTION_ID",
        "time_column": "TX_DATETIME",
        "amount_column": "TX_AMOUNT",
        "entities": {"customer": "CUSTOMER_ID", "terminal": "TERMINAL_ID"},
        "label_delay_days": 1,
        "features": FEATURES,
        **history,
    }
    raw["features"] = [raw["features"][0]] + [
        {"name": f["name"], "type": "numeric", "min": 0, "reason": "history"}
        for f in raw["history"]["features"]
    ]
    return parse_spec(yaml.safe_dump(raw)).spec


def random_frame(rng: np.random.Generator, rows: int, *, days: int = 6) -> pd.DataFrame:
    """Transactions of 3 customers at 3 terminals over ``days`` days, as text like a CSV read;
    whole-hour times, so that several share an instant."""
    hours = np.sort(rng.integers(0, days * 24, rows))
    times = pd.Timestamp("2018-04-01") + pd.to_timedelta(hours, unit="h")
    return pd.DataFrame(
        {
            "TRANSACTION_ID": [str(i) for i in range(rows)],
            "TX_DATETIME": times.strftime("%Y-%m-%d %H:%M:%S"),
            "CUSTOMER_ID": rng.integers(0, 3, rows).astype(str),
            "TERMINAL_ID": rng.integers(0, 3, rows).astype(str),
            "TX_AMOUNT": [f"{v:.2f}" for v in rng.uniform(0.01, 300, rows)],
            "TX_FRAUD": rng.integers(0, 2, rows).astype(str),
        },
        dtype="string",
    )
