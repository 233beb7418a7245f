"""Reading a decision back: a pending one from its place in the WAL (one line, whatever the
backlog, and while the store is down), any other id from the store alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from riskops.decisions import log as log_module
from riskops.decisions import wal as wal_module
from riskops.decisions.log import DecisionLog
from riskops.errors import BackendError
from tests.unit.decisions.test_decision_log import (
    FEATURES,
    entry,
)


class Reads:
    """Counts what reads the WAL's segments, and refuses a scan of them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lines = 0
        real = wal_module._read_lines

        def counted(*args: Any) -> tuple[list[bytes], int]:
            lines, end = real(*args)
            self.lines += len(lines)
            return lines, end

        def no_scan(*args: Any) -> Any:
            raise AssertionError("the WAL was scanned")

        monkeypatch.setattr(wal_module, "_read_lines", counted)
        monkeypatch.setattr(wal_module.WalReader, "unflushed", no_scan)


def store_down(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def down(_store: Any, keys: Any, decision_id: str) -> None:
        asked.append(decision_id)
        raise BackendError("The riskops database did not answer: timeout", hint="Retry.")

    monkeypatch.setattr(log_module, "read_stored", down)
    return asked


def test_a_pending_decision_is_read_from_its_place_while_the_store_is_down(
    make_log: Callable[..., DecisionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = make_log(start=False, segment_bytes=256 * 1024)
    entries = [entry(subject=f"S-{i}") for i in range(3000)]
    for e in entries:
        log.append(e)
    assert log.backlog() == 3000
    reads = Reads(monkeypatch)
    asked = store_down(monkeypatch)
    for wanted in (entries[0], entries[1777], entries[-1]):
        found = log.get(wanted.decision_id)
        assert found is not None
        assert (found.decision_id, found.flushed, found.features) == (
            wanted.decision_id,
            False,
            FEATURES,
        )
    assert reads.lines == 0  # one readline per decision, no segment read
    assert asked == []  # and not the store


def test_an_id_neither_pending_nor_stored_is_not_found_without_reading_the_wal(
    make_log: Callable[..., DecisionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = make_log(start=False)
    for _ in range(500):
        log.append(entry())
    reads = Reads(monkeypatch)
    assert log.get("00000000-0000-4000-8000-000000000000") is None
    assert reads.lines == 0


def test_an_unknown_id_while_the_store_is_down_is_a_backend_error_not_a_wal_scan(
    make_log: Callable[..., DecisionLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = make_log(start=False)
    for _ in range(500):
        log.append(entry())
    Reads(monkeypatch)
    asked = store_down(monkeypatch)
    with pytest.raises(BackendError, match="did not answer"):
        log.get("00000000-0000-4000-8000-000000000000")
    assert asked == ["00000000-0000-4000-8000-000000000000"]


def test_a_flushed_decision_is_read_from_the_store(
    make_log: Callable[..., DecisionLog],
) -> None:
    log = make_log(start=False)
    logged = entry()
    log.append(logged)
    assert log.flush() == 1
    found = log.get(logged.decision_id)
    assert found is not None
    assert (found.flushed, found.features) == (True, FEATURES)
