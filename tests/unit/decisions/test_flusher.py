"""The flusher process: killed with SIGKILL again and again, the server's backlog stays the
number of decisions not yet in the store, and a flush (or an erasure) returns."""

from __future__ import annotations

from collections.abc import Callable

from riskops.decisions.log import DecisionLog
from riskops.store import Store
from tests.unit.decisions.test_decision_log import (
    entry,
    stored_ids,
    wait_for,
)


def kill_flusher(log: DecisionLog) -> None:
    """SIGKILL the flusher process and let the log start another at once."""
    process = log._process
    assert process is not None
    process.kill()
    process.join(10)
    log._restart_at = 0.0  # no pause before the restart (the pause is tested elsewhere)
    assert log.check_flusher() is False
    assert log._process is not None
    assert log._process is not process


def test_after_a_killed_flusher_the_backlog_is_right_and_flush_returns(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(flusher="process")
    first = [entry(subject=f"F-{i}") for i in range(5)]
    for e in first:
        log.append(e)
    assert log.flush(timeout=30) == 5
    kill_flusher(log)
    last = entry(subject="F-0")
    log.append(last)
    assert log.flush(timeout=30) == 1
    assert log.backlog() == 0
    assert sorted(stored_ids(store)) == sorted(e.decision_id for e in [*first, last])
    assert log.erase_subject("F-0", actor="oscar", role="operator") is True


def test_the_backlog_is_the_real_one_across_repeated_flusher_kills(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    # The flusher drains at its start, then sleeps for an hour: what is appended meanwhile
    # waits in the WAL until the next flusher (after a kill) starts.
    log = make_log(flusher="process", flush_interval=3600)
    appended: list[str] = []
    for round_ in range(4):
        batch = [entry(subject=f"K-{round_}-{i}") for i in range(3 + round_)]
        for e in batch:
            log.append(e)
        appended += [e.decision_id for e in batch]
        earlier = len(appended) - len(batch)
        wait_for(lambda: len(stored_ids(store)) == earlier, timeout=30)  # noqa: B023
        assert log.backlog() == len(batch) == len(appended) - len(stored_ids(store))
        kill_flusher(log)
        wait_for(lambda: log.backlog() == 0, timeout=30)
        assert sorted(stored_ids(store)) == sorted(appended)
        assert log.flush(timeout=5) == 0
