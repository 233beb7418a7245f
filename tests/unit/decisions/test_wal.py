"""The WAL's index of its backlog (every durable entry after the checkpoint by key and
position, pruned as the checkpoint moves, rebuilt from the segments at open) and its reserved
segment space (cut when a segment closes, read as the end after a crash)."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from riskops.decisions import wal as wal_module
from riskops.decisions.wal import Position, WalBatch, WriteAheadLog
from riskops.errors import InputError


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


# -- groups: many entries, one write and one fsync, all or none after a crash -------------------


class Syncs:
    """Counts the syncs of file data (``fdatasync``, and ``fsync`` of a file or folder)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("fdatasync", "fsync"):
            real = getattr(os, name)

            def counted(fd: int, real: object = real) -> None:
                self.count += 1
                real(fd)  # type: ignore[operator]

            monkeypatch.setattr(os, name, counted)


def test_a_group_is_one_write_and_one_fsync_and_its_entries_are_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = WriteAheadLog(tmp_path)
    try:
        log.append(line("first"), key="first")  # opens the segment (and syncs the folder)
        writes: list[int] = []
        real_pwrite = os.pwrite

        def counted_pwrite(fd: int, data: bytes, at: int) -> int:
            writes.append(len(data))
            return real_pwrite(fd, data, at)

        monkeypatch.setattr(os, "pwrite", counted_pwrite)
        syncs = Syncs(monkeypatch)
        lines = [line(f"g{i}") for i in range(500)]
        log.append_many(lines, [f"g{i}" for i in range(500)])
        assert (syncs.count, len(writes)) == (1, 1)
        assert log.pending_entries() == log.durable_entries() == 501
        assert log.read_entry(log.locate("g321")) == lines[321]  # type: ignore[arg-type]
        (segment,) = segment_files(tmp_path)
        assert segment.read_bytes().startswith(
            line("first") + b'\n{"wal.group":500}\n' + lines[0] + b"\n"
        )
        batch = log.reader().read_batch(1000)  # the header is not an entry
        assert batch is not None
        assert batch.lines == [line("first"), *lines]
        log.append_many([line("one")], ["one"])  # a group of one is a plain line
        log.append_many([])
        assert log.pending_entries() == 502
    finally:
        log.close()
    again = WriteAheadLog(tmp_path, key_of=key_of)  # the index is rebuilt past the header
    try:
        assert again.pending_entries() == 502
        assert again.read_entry(again.locate("g499")) == line("g499")  # type: ignore[arg-type]
        assert again.read_entry(again.locate("one")) == line("one")  # type: ignore[arg-type]
    finally:
        again.close()


@pytest.mark.parametrize(
    "kept",
    [
        pytest.param(lambda header, size: header - 5, id="in-the-header"),
        pytest.param(lambda header, size: header, id="only-the-header"),
        pytest.param(lambda header, size: header + 17, id="in-the-first-entry"),
        pytest.param(lambda header, size: header + 3 * size, id="after-three-entries"),
        pytest.param(lambda header, size: header + 10 * size - 1, id="all-but-a-newline"),
    ],
)
@pytest.mark.parametrize("tail", ["cut", "zeros"])
def test_a_group_torn_by_a_crash_is_cut_whole_and_what_came_before_is_kept(
    tmp_path: Path, kept: object, tail: str
) -> None:
    """A crash in the middle of a group's write (the file ends early, or the pages not yet
    written read as zero bytes of reserved space): the group's appender was never answered,
    and after recovery none of its entries is in the WAL; the entries before it all are."""
    log = WriteAheadLog(tmp_path)
    before = [line(f"b{i}") for i in range(3)]
    log.append(before[0], key="b0")
    log.append_many(before[1:], ["b1", "b2"])
    (segment,) = segment_files(tmp_path)
    durable = log.durable_position().offset
    group = [line(f"g{i}") for i in range(10)]
    log.append_many(group, [f"g{i}" for i in range(10)])
    log.close()
    data = segment.read_bytes()
    header = len(b'{"wal.group":10}\n')
    assert data[durable : durable + header] == b'{"wal.group":10}\n'
    size = len(group[0]) + 1
    cut = durable + kept(header, size)  # type: ignore[operator]
    if tail == "cut":
        segment.write_bytes(data[:cut])
    else:
        segment.write_bytes(data[:cut] + b"\0" * (len(data) - cut + 4096))
    again = WriteAheadLog(tmp_path, key_of=key_of)
    try:
        assert again.pending_entries() == 3
        assert [again.locate(f"g{i}") for i in range(10)] == [None] * 10
        assert segment.read_bytes() == data[:durable]  # the torn group is cut off the file
        batch = again.reader().read_batch(100)
        assert batch is not None
        assert batch.lines == before
    finally:
        again.close()


def test_a_whole_group_survives_a_crash_that_leaves_reserved_space_after_it(
    tmp_path: Path,
) -> None:
    running, crashed = tmp_path / "running", tmp_path / "crashed"
    log = WriteAheadLog(running)
    group = [line(f"g{i}") for i in range(4)]
    log.append_many(group, [f"g{i}" for i in range(4)])
    shutil.copytree(running, crashed)  # as a kill -9 after the group's fsync leaves it
    log.close()
    again = WriteAheadLog(crashed, key_of=key_of)
    try:
        assert again.pending_entries() == 4
        assert again.read_entry(again.locate("g3")) == group[3]  # type: ignore[arg-type]
    finally:
        again.close()


def test_concurrent_groups_and_lines_are_never_interleaved(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    try:

        def write(t: int) -> None:
            for k in range(5):
                if k % 2:
                    log.append(line(f"t{t}-{k}-0"), key=f"t{t}-{k}-0")
                else:
                    keys = [f"t{t}-{k}-{j}" for j in range(20)]
                    log.append_many([line(key) for key in keys], keys)

        threads = [threading.Thread(target=write, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert log.pending_entries() == 6 * (3 * 20 + 2)
    finally:
        log.close()
    (segment,) = segment_files(tmp_path)
    lines = segment.read_bytes().splitlines()
    groups = 0
    for at, text in enumerate(lines):
        if text.startswith(b'{"wal.group":'):
            groups += 1
            keys = [json.loads(entry)["id"] for entry in lines[at + 1 : at + 21]]
            first = keys[0].rsplit("-", 1)[0]
            assert keys == [f"{first}-{j}" for j in range(20)]
    assert groups == 6 * 3


def test_an_entry_that_would_pass_for_a_group_header_is_refused(tmp_path: Path) -> None:
    log = WriteAheadLog(tmp_path)
    try:
        with pytest.raises(InputError, match=re.escape("""does not begin with '{"wal.group":'""")):
            log.append(b'{"wal.group":2}')
        with pytest.raises(InputError, match="A WAL entry is one line"):
            log.append_many([line("a"), b'{"id":"b"}\n{"id":"c"}'])
        with pytest.raises(InputError, match="append_many got 2 entries but 1 keys"):
            log.append_many([line("a"), line("b")], ["a"])
        assert log.pending_entries() == 0
        assert segment_files(tmp_path) == []  # nothing was written
    finally:
        log.close()
