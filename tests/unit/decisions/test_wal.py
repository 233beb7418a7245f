"""The WAL's index of its backlog: every durable entry after the checkpoint by key and
position, pruned as the checkpoint moves, rebuilt from the segments at open."""

from __future__ import annotations

import json
from pathlib import Path

from riskops.decisions import wal as wal_module
from riskops.decisions.wal import Position, WalBatch, WriteAheadLog


def line(key: str) -> bytes:
    return json.dumps({"id": key, "pad": "x" * 40}).encode()


def key_of(data: bytes) -> str | None:
    found = json.loads(data).get("id")
    return found if isinstance(found, str) else None


def test_an_appended_entry_is_found_by_key_with_one_seek(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path, segment_bytes=200)
    try:
        for i in range(10):
            log.append(line(f"k{i}"), key=f"k{i}")
        assert log.pending_entries() == 10
        where = log.locate("k7")
        assert where is not None
        assert where.segment > log.locate("k0").segment  # type: ignore[union-attr]
        assert log.read_entry(where) == line("k7")
        assert log.locate("nope") is None
    finally:
        log.close()


def test_prune_forgets_what_the_checkpoint_passed(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    try:
        for i in range(4):
            log.append(line(f"k{i}"), key=f"k{i}")
        reader = log.reader()
        batch = reader.read_batch(3)
        assert batch is not None
        reader.checkpoint(batch)
        log.prune(reader.position)
        assert log.pending_entries() == 1
        assert [log.locate(f"k{i}") is None for i in range(4)] == [True, True, True, False]
        assert log.oldest_pending() == log.locate("k3")
        log.prune(Position(reader.position.segment + 1, 0))
        assert (log.pending_entries(), log.oldest_pending()) == (0, None)
    finally:
        log.close()


def test_the_index_is_rebuilt_at_open_from_what_is_not_checkpointed(tmp_path: Path) -> None:
    first = WriteAheadLog(tmp_path)
    for i in range(5):
        first.append(line(f"k{i}"), key=f"k{i}")
    reader = first.reader()
    reader.checkpoint(WalBatch([b""] * 2, reader.read_batch(2).end))  # type: ignore[union-attr]
    first.close()
    again = WriteAheadLog(tmp_path, key_of=key_of)
    try:
        assert again.pending_entries() == 3
        assert again.locate("k1") is None
        where = again.locate("k4")
        assert where is not None
        assert again.read_entry(where) == line("k4")
    finally:
        again.close()


def test_a_deleted_segment_reads_as_gone(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    try:
        log.append(line("k0"), key="k0")
        where = log.locate("k0")
        assert where is not None
        (tmp_path / wal_module.segment_name(where.segment)).unlink()
        assert log.read_entry(where) is None
    finally:
        log.close()


def test_a_packed_position_sorts_like_the_position() -> None:
    positions = [Position(1, 5), Position(1, 2**39), Position(2, 0), Position(10, 3)]
    assert sorted(p.packed() for p in positions) == [p.packed() for p in positions]
    assert [Position.unpack(p.packed()) for p in positions] == positions
