"""The online stores' contract, run over every backend (in-process SQLite, a SQLite file, and
Redis, integration-marked, under a key prefix of its own that is deleted afterwards), and the
no-skew check: for the same transactions, the online lookup gives exactly the offline values."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskops.errors import ConfigError, NotFoundError
from riskops.history.definitions import parse_time
from riskops.history.offline import history_events, history_frame
from riskops.history.online import HistoryLookup, record_label
from riskops.history.store import Event, OnlineStore, open_online_store
from tests.conftest import unavailable
from tests.unit.history.conftest import SUBSET, random_frame, small_spec

NS = "transaction-risk"
REDIS_URL = os.environ.get("RISKOPS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    """Each backend in turn, empty."""
    if request.param == "memory":
        opened = open_online_store("memory://")
    elif request.param == "sqlite":
        opened = open_online_store(f"sqlite:///{tmp_path / 'history.sqlite'}")
    else:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        try:
            client.ping()
        except redis.RedisError as exc:
            unavailable(f"Redis at {REDIS_URL} is not available: {exc}")
        finally:
            client.close()
        opened = open_online_store(f"{REDIS_URL}?prefix=riskops-test-{uuid.uuid4().hex[:12]}")
    try:
        yield opened
    finally:
        opened.clear(NS)
        opened.clear("other")
        opened.close()


def test_window_is_half_open_and_per_entity(store: OnlineStore) -> None:
    assert store.append(NS, Event("1", 100, 500, {"customer": "c1", "terminal": "t1"}))
    assert store.append(NS, Event("2", 200, 700, {"customer": "c1", "terminal": "t2"}, True))
    assert store.append(NS, Event("3", 300, 900, {"customer": "c2", "terminal": "t1"}))
    assert sorted(store.window(NS, "customer", "c1", 100, 300)) == [(100, 500, 0), (200, 700, 1)]
    assert list(store.window(NS, "customer", "c1", 101, 200)) == []
    assert list(store.window(NS, "terminal", "t1", 0, 1000)) == [(100, 500, 0), (300, 900, 0)]
    assert list(store.window("other", "terminal", "t1", 0, 1000)) == []


def test_an_id_is_kept_once_and_labels_change(store: OnlineStore) -> None:
    event = Event("1", 100, 500, {"customer": "c1"})
    assert store.append(NS, event)
    assert not store.append(NS, event)
    assert store.append_many(NS, [event, Event("2", 150, 1, {"customer": "c1"})]) == 1
    assert store.label(NS, "1", fraud=True)
    assert sorted(store.window(NS, "customer", "c1", 0, 200)) == [(100, 500, 1), (150, 1, 0)]
    assert store.label(NS, "1", fraud=False)
    assert sorted(store.window(NS, "customer", "c1", 0, 200))[0] == (100, 500, 0)
    assert not store.label(NS, "nope", fraud=True)
    with pytest.raises(NotFoundError, match="keeps no transaction 'nope'"):
        record_label(store, NS, "nope", fraud=True)
    assert store.clear(NS) == 2
    assert list(store.window(NS, "customer", "c1", 0, 200)) == []


def _request(row: pd.Series) -> dict[str, object]:
    return {
        "TRANSACTION_ID": row["TRANSACTION_ID"],
        "TX_DATETIME": row["TX_DATETIME"],
        "CUSTOMER_ID": row["CUSTOMER_ID"],
        "TERMINAL_ID": row["TERMINAL_ID"],
        "TX_AMOUNT": float(row["TX_AMOUNT"]),
    }


def test_online_equals_offline_on_the_reference_data(store: OnlineStore) -> None:
    """The reference spec's features on ten days of the shipped subset: every online value
    of 300 sampled transactions equals the offline one exactly."""
    from riskops.spec import load_spec

    spec = load_spec(SUBSET.parents[2] / "models" / "transaction_risk" / "model.yaml").spec
    frame = pd.read_csv(SUBSET, dtype="string")
    frame = frame[frame["TX_DATETIME"] < "2018-04-11"].reset_index(drop=True)
    offline = history_frame(frame, spec, source="subset")
    store.append_many(NS, history_events(frame, spec, source="subset"))
    lookup = HistoryLookup(spec, store)
    sample = np.random.default_rng(5).choice(len(frame), 300, replace=False)
    for i in sample:
        enriched, transaction = lookup.enrich(_request(frame.iloc[i]))
        expected = offline.iloc[i].to_dict()
        assert {k: enriched[k] for k in expected} == expected, f"row {i}"
        assert enriched["TX_AMOUNT"] == float(frame["TX_AMOUNT"][i])
        assert "CUSTOMER_ID" not in enriched
        assert transaction.time_us == parse_time(str(frame["TX_DATETIME"][i]))


def test_replaying_decisions_in_time_order_gives_the_offline_values(store: OnlineStore) -> None:
    """As serving does: look up, decide, append; labels recorded as they come. Every row's
    online features equal the offline ones computed over the whole frame at once."""
    spec = small_spec()
    frame = random_frame(np.random.default_rng(11), 120)
    offline = history_frame(frame, spec, source="random")
    lookup = HistoryLookup(spec, store)
    for i in range(len(frame)):
        row = frame.iloc[i]
        enriched, transaction = lookup.enrich(_request(row))
        assert {k: enriched[k] for k in offline.columns} == offline.iloc[i].to_dict(), f"row {i}"
        assert lookup.record(transaction)
        record_label(store, NS, transaction.event_id, fraud=row["TX_FRAUD"] == "1")


def test_unknown_url_names_the_valid_schemes() -> None:
    with pytest.raises(ConfigError, match="Valid schemes are: sqlite, memory, redis, rediss"):
        open_online_store("postgres://x")
