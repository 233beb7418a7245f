"""The WAL's index of its backlog (every durable entry after the checkpoint by key and
position, pruned as the checkpoint moves, rebuilt from the segments at open) and its reserved
segment space (cut when a segment closes, read as the end after a crash)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

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


def segment_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("wal-*.jsonl"))


def test_space_is_reserved_ahead_and_a_closed_segment_is_cut_to_its_entries(
    tmp_path: Path,
) -> None:
    log = WriteAheadLog(tmp_path, segment_bytes=10_000)
    lines = [line(f"k{i}") for i in range(5)]
    for i, entry in enumerate(lines):
        log.append(entry, key=f"k{i}")
    (active,) = segment_files(tmp_path)
    written = sum(len(entry) + 1 for entry in lines)
    assert active.stat().st_size == 10_000 > written  # reserved, not grown line by line
    log.close()
    assert active.read_bytes() == b"".join(entry + b"\n" for entry in lines)


def test_a_segment_is_cut_to_its_entries_when_the_next_one_starts(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path, segment_bytes=200)
    try:
        for i in range(10):
            log.append(line(f"k{i}"), key=f"k{i}")
        *closed, _active = segment_files(tmp_path)
        assert closed
        for segment in closed:
            data = segment.read_bytes()
            assert b"\0" not in data
            assert data.endswith(b"\n")
    finally:
        log.close()


def test_a_crashed_segment_ending_in_reserved_space_gives_back_every_entry(
    tmp_path: Path,
) -> None:
    running, crashed = tmp_path / "running", tmp_path / "crashed"
    log = WriteAheadLog(running, segment_bytes=1_000_000)
    lines = [line(f"k{i}") for i in range(5)]
    for i, entry in enumerate(lines):
        log.append(entry, key=f"k{i}")
    shutil.copytree(running, crashed)  # the folder as a kill -9 leaves it
    log.close()
    (left,) = segment_files(crashed)
    assert left.read_bytes().endswith(b"\0" * 1000)
    again = WriteAheadLog(crashed, key_of=key_of)
    try:
        assert again.pending_entries() == 5
        where = again.locate("k4")
        assert where is not None
        assert again.read_entry(where) == lines[4]
        assert left.read_bytes() == b"".join(entry + b"\n" for entry in lines)  # tail cut
        again.append(line("k5"), key="k5")
        batch = again.reader().read_batch(100)
        assert batch is not None
        assert batch.lines == lines
    finally:
        again.close()


def test_a_complete_segment_ending_in_reserved_space_is_read_past(tmp_path: Path) -> None:
    """A segment that was not cut (its process died between its last group and the cut)
    ends where its zero bytes begin; the reader goes on to the next segment."""
    first, second = (tmp_path / wal_module.segment_name(i) for i in (1, 2))
    first.write_bytes(line("a") + b"\n" + line("b") + b"\n" + b"\0" * 4096)
    second.write_bytes(line("c") + b"\n")
    reader = wal_module.WalReader(tmp_path, lambda: Position(2, second.stat().st_size))
    seen: list[bytes] = []
    for _ in range(5):
        batch = reader.read_batch(100)
        if batch is None:
            break
        seen.extend(batch.lines)
        reader.checkpoint(batch)
    assert seen == [line("a"), line("b"), line("c")]
    assert reader.read_batch(100) is None
    assert not first.exists()  # flushed: deleted


def test_a_file_system_that_cannot_reserve_space_is_written_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(fd: int, offset: int, length: int) -> None:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", refused)
    log = WriteAheadLog(tmp_path, segment_bytes=10_000)
    lines = [line(f"k{i}") for i in range(3)]
    try:
        for i, entry in enumerate(lines):
            log.append(entry, key=f"k{i}")
        (active,) = segment_files(tmp_path)
        assert active.read_bytes() == b"".join(entry + b"\n" for entry in lines)
    finally:
        log.close()
