"""The verifier's walk split into chunks agrees with the one-process walk: the same roots at
every checkpoint size, the same times, the same end; and anything wrong in a chunk or at a seam
sends verify back to the one-process walk, which names it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.audit.chain import GENESIS_HASH, ChainEvent, seal
from riskops.audit.parallel import PARALLEL_MIN_EVENTS, chunk_size, join_chunks, walk_rows
from riskops.audit.trail import Entry, record_many
from riskops.audit.verification import _walk
from riskops.store import open_store

ROOT = Path(__file__).resolve().parents[3]


def _events(n: int) -> list[ChainEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event = seal(
            seq=seq,
            occurred_at=f"2026-12-08T09:{seq // 60 % 60:02d}:{seq % 60:02d}.000000Z",
            actor="svc",
            role="operator",
            action="decision.logged",
            object_type="decision",
            object_id=f"d-{seq}",
            payload=json.dumps({"n": seq}),
            prev_hash=prev,
        )
        events.append(event)
        prev = event.hash
    return events


def _chunked(events: list[ChainEvent], size: int, sizes: set[int], anchored: int) -> object:
    chunks = [
        walk_rows(
            events[lo : lo + size], lo, sorted(s for s in sizes if lo < s <= lo + size), anchored
        )
        for lo in range(0, len(events), size)
    ]
    return join_chunks(chunks, size, len(events), events[-1].hash, processes=2)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 140),
    level=st.integers(0, 6),
    data=st.data(),
)
def test_chunks_give_the_roots_times_and_end_of_the_whole_walk(
    n: int, level: int, data: st.DataObject
) -> None:
    events = _events(n)
    sizes = set(data.draw(st.lists(st.integers(1, n), max_size=12)))
    anchored = data.draw(st.integers(0, n))
    whole = _walk(events, sizes, anchored)
    walked = _chunked(events, 1 << level, sizes, anchored)
    assert walked is not None
    assert walked.roots == whole.roots  # type: ignore[attr-defined]
    assert walked.times == whole.times  # type: ignore[attr-defined]
    assert walked.tail_first_time == whole.tail_first_time  # type: ignore[attr-defined]
    assert (walked.count, walked.prev) == (whole.count, whole.prev)  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 90), level=st.integers(0, 4), data=st.data())
def test_anything_wrong_anywhere_is_left_to_the_whole_walk(
    n: int, level: int, data: st.DataObject
) -> None:
    events = _events(n)
    at = data.draw(st.integers(0, n - 1))
    fault = data.draw(st.sampled_from(["payload", "relinked", "backdated", "missing"]))
    if fault == "payload":  # edited, hash left as it was
        events[at] = events[at]._replace(payload='{"n":-1}')
    elif fault == "relinked":  # edited and rehashed: the next link breaks, or the end differs
        fields = events[at]._asdict()
        fields.pop("hash")
        fields["object_id"] = "forged"
        events[at] = seal(**fields)
    elif fault == "backdated":
        fields = events[at]._asdict()
        fields.pop("hash")
        fields["occurred_at"] = "2026-12-07T00:00:00.000000Z"
        events[at] = seal(**fields)
        if at == 0:  # nothing before it to be dated after: edit its content instead
            events[at] = events[at]._replace(actor="mallory")
    else:
        del events[at]
    newest = _events(n)[-1].hash
    whole = _walk(events, set(), 0)  # what verify sees: a break, or an end not at the head
    assert whole.broken_at is not None or (whole.count, whole.prev) != (n, newest)
    size = 1 << level
    chunks = [walk_rows(events[lo : lo + size], lo, [], 0) for lo in range(0, len(events), size)]
    assert join_chunks(chunks, size, n, newest, processes=2) is None


def test_chunks_are_powers_of_two_and_about_four_per_worker() -> None:
    assert chunk_size(50_000, 2) == 8_192
    assert chunk_size(1_000_000, 2) == 131_072
    assert chunk_size(10_000, 2) == 4_096  # never smaller
    for events in (PARALLEL_MIN_EVENTS, 99_999, 3_000_000):
        size = chunk_size(events, 2)
        assert size & (size - 1) == 0


def _store_with(url: str, n: int) -> None:
    store = open_store(url)
    now = datetime(2026, 12, 8, 9, tzinfo=UTC)
    for start in range(0, n, 5_000):
        batch = [
            Entry("svc", "operator", "decision.logged", "decision", f"d-{i}", {"i": i})
            for i in range(start, min(n, start + 5_000))
        ]
        with store.transaction() as session:
            record_many(session, batch, at=now)
    store.dispose()


VERIFY = """
import json, sys
from riskops.audit.verification import verify_audit
from riskops.store import open_store
store = open_store(sys.argv[1], migrate=False)
print(json.dumps(verify_audit(store, None).as_dict()))
"""


def _verify_in_a_fresh_process(url: str) -> dict[str, object]:
    """verify in a process of its own: forking is only taken where no other thread runs."""
    done = subprocess.run(
        [sys.executable, "-c", VERIFY, url],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def big_log(store_url: str) -> str:
    _store_with(store_url, PARALLEL_MIN_EVENTS + 1_000)
    return store_url


def test_a_large_log_is_walked_by_two_processes_with_the_same_verdict(big_log: str) -> None:
    report = _verify_in_a_fresh_process(big_log)
    assert report["processes"] == 2, report
    assert report["ok"], report
    assert report["events"] == PARALLEL_MIN_EVENTS + 1_000
    assert report["status"] == "integrity-only"


def test_a_rewritten_event_in_a_large_sqlite_log_is_named_by_the_whole_walk(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_with(url, PARALLEL_MIN_EVENTS + 1_000)
    with sqlite3.connect(tmp_path / "store.db") as connection:  # an insider with the file
        connection.execute("DROP TRIGGER audit_events_no_update")
        connection.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 20000")
    report = _verify_in_a_fresh_process(url)
    assert report["processes"] == 1
    assert report["first_broken_seq"] == 20_000
    assert "event 20000 was altered" in str(report["problems"])
