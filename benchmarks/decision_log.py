"""Decision log throughput on this machine: durable appends (group commit, one fsync per group)
at 1 and 8 threads, and flushing into the SQLite store.

Usage: python benchmarks/decision_log.py [--seconds S] [--flush N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from riskops.decisions.log import DecisionLog
from riskops.decisions.records import LoggedDecision
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.store import open_store

FEATURES = {
    "duration_in_month": 24,
    "credit_amount": 4120.0,
    "age": 37,
    "purpose": "car (new)",
    "credit_history": "existing credits paid back duly till now",
}
REASONS = [{"code": "R01", "text": "Long duration", "contribution": 0.41, "value": 24}]


def clock() -> datetime:
    return datetime.now(UTC)


def entry(i: int) -> LoggedDecision:
    return LoggedDecision(
        decision_id=str(uuid.uuid4()),
        decided_at=clock(),
        model_name="credit-scoring",
        version=2,
        digest="sha256:" + "d" * 64,
        route="champion",
        served=True,
        subject_id=f"C-{i}",
        features=FEATURES,
        score=0.61,
        decision="decline",
        reasons=REASONS,
        latency_ms=0.8,
        fallback=False,
        request_sha256="e" * 64,
    )


def appends(log: DecisionLog, threads: int, seconds: float) -> tuple[float, float, float]:
    waits: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def work(n: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            e = entry(i)
            start = time.perf_counter()
            log.append(e)
            waits[n].append(time.perf_counter() - start)
            i += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    every = sorted(w for chunk in waits for w in chunk)
    p99 = every[min(len(every) - 1, int(0.99 * len(every)))]
    return len(every) / elapsed, statistics.median(every) * 1e3, p99 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--flush", type=int, default=20000, help="decisions to flush")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    secrets = WorkspaceSecrets.from_secret(os.urandom(32))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = open_store(args.database_url or f"sqlite:///{root / 'riskops.db'}")
        print(f"{'appends (fsync each group)':<34}{'appends/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
        for threads in (1, 8):
            log = DecisionLog(store, root / f"wal-{threads}", secrets, clock)  # no flusher
            rate, p50, p99 = appends(log, threads, args.seconds)
            print(f"{f'{threads} thread(s)':<34}{rate:>12,.0f}{p50:>10.3f}{p99:>10.3f}")
            log.close()
        log = DecisionLog(store, root / "wal-flush", secrets, clock, batch_size=500)
        pending = [entry(i) for i in range(args.flush)]
        share = len(pending) // 8

        def fill(part: list[LoggedDecision]) -> None:
            for e in part:
                log.append(e)

        workers = [
            threading.Thread(target=fill, args=(pending[n * share : (n + 1) * share],))
            for n in range(8)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        start = time.perf_counter()
        moved = log.flush()
        elapsed = time.perf_counter() - start
        log.close()
        print(
            f"flush into {store.dialect} (batches of 500, sealed): {moved / elapsed:,.0f} "
            f"decisions/s ({moved} in {elapsed:.2f} s)"
        )


if __name__ == "__main__":
    main()
