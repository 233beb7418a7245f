"""What history features add to one decision: the online lookup (the transaction's customer and
terminal windows read from the store, the reference spec's 11 features computed) and the
append after the decision, per store: SQLite in process, a SQLite file (the default), and
Redis (skipped when none answers). The store holds the shipped subset (118,849 transactions);
the decisions replay its last 30% in time order, each looked up and then appended, as serving
does. Prints p50/p99 in microseconds.

    .venv/bin/python benchmarks/history_lookup.py --decisions 3000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from riskops.history.offline import history_events
from riskops.history.online import HistoryLookup
from riskops.history.store import OnlineStore, open_online_store
from riskops.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "transaction_risk" / "model.yaml"


def measure(store: OnlineStore, frame: pd.DataFrame, decisions: int) -> dict[str, float]:
    loaded = load_spec(SPEC)
    spec = loaded.spec
    cut = int(len(frame) * 0.7)
    started = time.perf_counter()
    store.append_many(spec.name, history_events(frame.iloc[:cut], spec, source="subset"))
    load_s = time.perf_counter() - started
    lookup = HistoryLookup(spec, store)
    rows = frame.iloc[cut : cut + decisions]
    looked, appended = [], []
    for row in rows.itertuples(index=False):
        request = {
            "TRANSACTION_ID": row.TRANSACTION_ID,
            "TX_DATETIME": row.TX_DATETIME,
            "CUSTOMER_ID": row.CUSTOMER_ID,
            "TERMINAL_ID": row.TERMINAL_ID,
            "TX_AMOUNT": float(row.TX_AMOUNT),
        }
        t0 = time.perf_counter()
        _, transaction = lookup.enrich(request)
        t1 = time.perf_counter()
        lookup.record(transaction)
        t2 = time.perf_counter()
        looked.append(t1 - t0)
        appended.append(t2 - t1)
    store.clear(spec.name)
    us = 1e6
    return {
        "backfill_per_s": cut / load_s,
        "lookup_p50": float(np.percentile(looked, 50)) * us,
        "lookup_p99": float(np.percentile(looked, 99)) * us,
        "append_p50": float(np.percentile(appended, 50)) * us,
        "append_p99": float(np.percentile(appended, 99)) * us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=3000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    loaded = load_spec(SPEC)
    frame = pd.read_csv(loaded.resolve(loaded.spec.data.source), dtype="string")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite (memory)"] = measure(open_online_store("memory://"), frame, args.decisions)
        results["sqlite (file, default)"] = measure(
            open_online_store(f"sqlite:///{Path(tmp) / 'history.sqlite'}"), frame, args.decisions
        )
    try:
        import redis

        redis.Redis.from_url(args.redis, socket_connect_timeout=1).ping()
        url = f"{args.redis}?prefix=riskops-bench-{uuid.uuid4().hex[:8]}"
        results["redis"] = measure(open_online_store(url), frame, args.decisions)
    except Exception as exc:  # no Redis here: the other stores are still measured
        print(f"redis skipped: {exc}")
    print(f"{args.decisions} decisions, each: lookup (2 windows, 11 features) then append; µs")
    print(
        f"{'store':<24}{'lookup p50':>12}{'lookup p99':>12}{'append p50':>12}"
        f"{'append p99':>12}{'backfill/s':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:<24}{r['lookup_p50']:>12.0f}{r['lookup_p99']:>12.0f}{r['append_p50']:>12.0f}"
            f"{r['append_p99']:>12.0f}{r['backfill_per_s']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
