"""Audit chain throughput: append and verify, on this machine.

Usage: python benchmarks/audit_chain.py [--events N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from riskops.audit import verify
from riskops.audit.chain import GENESIS_HASH, canonical_json, seal, verify_events
from riskops.audit.trail import Entry, record_many
from riskops.store import open_store

PAYLOAD = {"digest": "sha256:" + "ab" * 32, "score": 0.4375, "reasons": ["duration", "history"]}


def _in_memory(n: int) -> tuple[float, float]:
    start = time.perf_counter()
    prev = GENESIS_HASH
    events = []
    text = canonical_json(PAYLOAD)
    for i in range(1, n + 1):
        event = seal(
            seq=i,
            occurred_at="2026-11-29T09:00:00.000000Z",
            actor="svc",
            role="operator",
            action="decision.logged",
            object_type="decision",
            object_id=f"d-{i}",
            payload=text,
            prev_hash=prev,
        )
        events.append(event)
        prev = event.hash
    sealed = time.perf_counter() - start
    start = time.perf_counter()
    report = verify_events(events, head_seq=n, head_hash=prev)
    verified = time.perf_counter() - start
    assert report.ok
    return n / sealed, n / verified


def _store(url: str, n: int, per_transaction: int) -> float:
    store = open_store(url)
    now = datetime.now(UTC)
    start = time.perf_counter()
    done = 0
    while done < n:
        batch = [
            Entry("svc", "operator", "decision.logged", "decision", f"d-{done + i}", PAYLOAD)
            for i in range(min(per_transaction, n - done))
        ]
        with store.transaction() as session:
            record_many(session, batch, at=now)
        done += len(batch)
    rate = n / (time.perf_counter() - start)
    store.dispose()
    return rate


def _verify_store(url: str) -> tuple[int, float]:
    store = open_store(url)
    start = time.perf_counter()
    report = verify(store)
    elapsed = time.perf_counter() - start
    store.dispose()
    assert report.ok
    return report.events, report.events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        seal_rate, verify_rate = _in_memory(args.events)
        single = _store(url, min(args.events, 2_000), per_transaction=1)
        batched = _store(url, args.events, per_transaction=1_000)
        total, store_verify = _verify_store(url)
    rows = [
        ("seal (hash) in memory", seal_rate, "-"),
        ("verify in memory", verify_rate, "≥ 200,000"),
        ("append, 1 event per transaction", single, "-"),
        ("append, 1,000 events per transaction", batched, "≥ 20,000"),
        (f"verify from the store ({total:,} events)", store_verify, "≥ 200,000"),
    ]
    print(f"{'what':<45} {'events/s':>12}  target")
    for what, rate, target in rows:
        print(f"{what:<45} {rate:>12,.0f}  {target}")


if __name__ == "__main__":
    main()
