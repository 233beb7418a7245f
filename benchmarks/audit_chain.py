"""Audit log throughput: append and verify, with signed checkpoints on, on this machine; side
by side with pymerkle (an RFC 6962 Merkle tree library a team might pick instead) when it is
importable (``pip install pymerkle``).

- append: riskops ``record_many`` 1,000 events per transaction with the checkpointer installed
  (a signed, file-anchored checkpoint every 1,000 events) vs pymerkle ``SqliteTree
  .append_entries`` of the same record texts, 1,000 per call;
- verify: ``riskops audit verify``'s whole check (chain, Merkle log, anchored checkpoints read
  back and signature-checked, lifecycle rows) from the store, in one process and as the
  command runs it (worker processes on a log of 32,768 events or more), vs pymerkle
  rebuilding the root of the same record texts read from the same store in an
  ``InmemoryTree``.

The machine's speed moves with its neighbours' load: "seal (hash) in memory" is printed first
as a yardstick for comparing runs.

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
from riskops.audit.log import event_leaf, events_between, install_checkpointing
from riskops.audit.note import write_key_file
from riskops.audit.trail import Entry, record_many
from riskops.audit.verification import STATUS_ANCHORED, verify_audit
from riskops.config import AuditSettings
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


def _audit_settings(folder: Path) -> AuditSettings:
    signer = write_key_file(folder / "audit.key", "bench.example/riskops")
    return AuditSettings(
        base=folder,
        origin="bench.example/riskops",
        signing_key_file=folder / "audit.key",
        verifier_keys=(signer.verifier().text(),),
        anchors=({"type": "file", "path": "anchors/checkpoints.jsonl"},),
        every_events=1_000,
    )


def _checkpointed(
    url: str, n: int, settings: AuditSettings
) -> tuple[float, float, float, int, int]:
    """Append with the checkpointer on; then the whole anchored verify in one process and as
    ``riskops audit verify`` runs it. Rates, checkpoints and the processes verify used."""
    store = open_store(url)
    checkpointer = install_checkpointing(store, settings, lambda: datetime.now(UTC))
    assert checkpointer is not None
    now = datetime.now(UTC)
    start = time.perf_counter()
    done = 0
    while done < n:
        batch = [
            Entry("svc", "operator", "decision.logged", "decision", f"d-{done + i}", PAYLOAD)
            for i in range(min(1_000, n - done))
        ]
        with store.transaction() as session:
            record_many(session, batch, at=now)
        done += len(batch)
    appended = n / (time.perf_counter() - start)
    checkpointer.checkpoint("bench")
    start = time.perf_counter()
    single = verify_audit(store, settings, parallel=False)
    one_process = single.events / (time.perf_counter() - start)
    start = time.perf_counter()
    report = verify_audit(store, settings)
    verified = report.events / (time.perf_counter() - start)
    assert report.status == single.status == STATUS_ANCHORED, report.problems
    assert report.checkpoints == single.checkpoints
    store.dispose()
    return appended, one_process, verified, len(report.checkpoints), report.processes


def _pymerkle(url: str, folder: Path) -> tuple[float, float] | None:
    """pymerkle on the same record texts: append to its SQLite tree; rebuild a root in memory."""
    try:
        from pymerkle import InmemoryTree, SqliteTree
    except ModuleNotFoundError:
        return None
    store = open_store(url)
    with store.reading() as session:
        texts = [event_leaf(e) for e in events_between(session, 0, 2**31 - 1)]
    store.dispose()
    tree = SqliteTree(str(folder / "pymerkle.db"))
    start = time.perf_counter()
    for i in range(0, len(texts), 1_000):
        tree.append_entries(texts[i : i + 1_000])
    appended = len(texts) / (time.perf_counter() - start)
    tree.close()
    store = open_store(url)
    start = time.perf_counter()
    with store.reading() as session:
        memory = InmemoryTree()
        for event in events_between(session, 0, 2**31 - 1):
            memory.append_entry(event_leaf(event))
        memory.get_state()
    rebuilt = len(texts) / (time.perf_counter() - start)
    store.dispose()
    return appended, rebuilt


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
        folder = Path(tmp)
        logged_url = args.database_url or f"sqlite:///{folder / 'logged.db'}"
        appended, one_process, verified, checkpoints, processes = _checkpointed(
            logged_url, args.events, _audit_settings(folder)
        )
        other = _pymerkle(logged_url, folder)
    rows = [
        ("seal (hash) in memory", seal_rate, "-"),
        ("verify in memory", verify_rate, "≥ 200,000"),
        ("append, 1 event per transaction", single, "-"),
        ("append, 1,000 events per transaction", batched, "≥ 20,000"),
        (f"chain only, from the store ({total:,} events)", store_verify, "-"),
        ("append 1,000/transaction, checkpoints on", appended, "≥ 20,000"),
        (f"audit verify, anchored ({checkpoints} checkpoints), 1 process", one_process, "-"),
        (f"audit verify, anchored, as run ({processes} processes)", verified, "≥ 200,000"),
    ]
    if other is not None:
        rows += [
            ("pymerkle SqliteTree append, 1,000/call", other[0], "-"),
            ("pymerkle InmemoryTree root from the store", other[1], "-"),
        ]
    print(f"{'what':<50} {'events/s':>12}  target")
    for what, rate, target in rows:
        print(f"{what:<50} {rate:>12,.0f}  {target}")
    if other is not None:
        print(
            f"ratios to pymerkle: append {appended / other[0]:.1f}x, "
            f"verify {verified / other[1]:.1f}x"
        )
    else:
        print("pymerkle is not installed: pip install pymerkle to compare")


if __name__ == "__main__":
    main()
