"""The verifier's walk over a large log, split across worker processes.

Hashing is the whole cost of ``riskops audit verify`` (four SHA-256 per event: payload, event
hash, leaf, and a node on average), and CPython hashes short messages on one core at a time.
A log of at least ``PARALLEL_MIN_EVENTS`` events is therefore cut into chunks of ``2^k``
events, aligned at multiples of ``2^k`` so each full chunk is a perfect subtree of the Merkle
log, and each chunk is walked by a worker process with its own read-only connection:

* inside its chunk a worker checks what the one-process walk checks (contiguous sequence
  numbers, every link, every hash, times never backwards) and returns the chunk's first link
  and time, last hash and time, its subtree root, and the compact range (perfect-subtree roots)
  at every checkpoint size that falls inside it;
* the parent checks the seams (each chunk links to and is dated no earlier than the one
  before, every chunk but the last is full) and rebuilds the root at each checkpoint size
  from the roots of the chunks before it followed by the worker's compact range: a right fold
  of consecutive perfect subtrees, largest first, is the RFC 6962 root however the trailing
  ones are grouped.

The fast path only ever confirms: if any worker or seam finds anything wrong, or the store is
not what the parent's snapshot says (another count, another newest event), the caller runs the
one-process walk, which names the first broken event exactly as it always has. Workers are
forked, so only a process that runs no other thread takes this path (a fork copies one thread
and whatever locks the others held).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from riskops.audit.chain import GENESIS_HASH, record_bytes

PARALLEL_MIN_EVENTS = 32_768
_MIN_CHUNK = 4_096
_COLUMNS = "seq, occurred_at, actor, role, action, object_type, object_id, payload, prev_hash, hash"


@dataclass
class Chunk:
    """What one worker found in events ``lo < seq <= hi``; ``ok`` False means "walk again
    in one process"."""

    lo: int
    ok: bool
    count: int = 0
    first_prev: str = ""
    first_time: str = ""
    last_hash: str = ""
    last_time: str = ""
    root: bytes = b""
    stacks: dict[int, list[bytes]] = field(default_factory=dict)
    times: dict[int, str] = field(default_factory=dict)
    tail_first_time: str | None = None


@dataclass
class Walked:
    """The one-process walk's result for an intact log (see verification._Walk)."""

    count: int
    prev: str
    roots: dict[int, bytes]
    times: dict[int, str]
    tail_first_time: str | None
    processes: int


def _connect(dialect: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if dialect == "sqlite":
        import sqlite3

        connection = sqlite3.connect(f"file:{args[0]}?mode=ro", uri=True)
        return connection
    import psycopg

    return psycopg.connect(*args, **kwargs)


def walk_chunk(
    dialect: str,
    connect: tuple[Sequence[Any], dict[str, Any]],
    lo: int,
    hi: int,
    sizes: Sequence[int],
    anchored_size: int,
) -> Chunk:
    """Walk events ``lo < seq <= hi`` read from the store (a worker process's task)."""
    connection = _connect(dialect, *connect)
    mark = "?" if dialect == "sqlite" else "%s"
    try:
        if dialect == "sqlite":
            cursor = connection.cursor()
        else:
            connection.read_only = True
            cursor = connection.cursor(name="riskops_audit_chunk")
            cursor.itersize = 10_000
        cursor.execute(
            f"SELECT {_COLUMNS} FROM audit_events "  # noqa: S608
            f"WHERE seq > {mark} AND seq <= {mark} ORDER BY seq",
            (lo, hi),
        )
        return walk_rows(cursor, lo, sizes, anchored_size)
    finally:
        connection.close()


def walk_rows(
    rows: Iterable[Sequence[Any]], lo: int, sizes: Sequence[int], anchored_size: int
) -> Chunk:
    """Walk the events of one chunk, the first being ``lo + 1`` (rows in stored column order);
    stops at the first thing wrong with ``ok`` False."""
    sha256 = hashlib.sha256
    wanted = set(sizes)
    chunk = Chunk(lo=lo, ok=True)
    stack: list[bytes] = []
    size = lo
    prev_ok: str | None = None
    last_time = ""
    for seq, occurred_at, actor, role, action, object_type, object_id, payload, prev, hash_ in rows:
        size += 1
        if seq != size:
            chunk.ok = False
            return chunk
        if prev_ok is None:
            chunk.first_prev, chunk.first_time = prev, occurred_at
        elif prev != prev_ok or occurred_at < last_time:
            chunk.ok = False
            return chunk
        text = record_bytes(
            seq, occurred_at, actor, role, action, object_type, object_id, payload, prev
        )
        if sha256(text).hexdigest() != hash_:
            chunk.ok = False
            return chunk
        node = sha256(b"\x00" + text).digest()
        merges = size - lo
        while not merges & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            merges >>= 1
        stack.append(node)
        prev_ok = hash_
        last_time = occurred_at
        if size in wanted:
            chunk.stacks[size] = list(stack)
            chunk.times[size] = occurred_at
        if size == anchored_size + 1:
            chunk.tail_first_time = occurred_at
    chunk.count = size - lo
    chunk.last_hash = prev_ok or ""
    chunk.last_time = last_time
    chunk.root = stack[0] if len(stack) == 1 else b""
    return chunk


def _fold(nodes: Sequence[bytes]) -> bytes:
    root = nodes[-1]
    for left in reversed(nodes[:-1]):
        root = hashlib.sha256(b"\x01" + left + root).digest()
    return root


def chunk_size(events: int, workers: int) -> int:
    """The power of two that gives each worker about four chunks (at least ``_MIN_CHUNK``), so
    that one slow chunk or a busy core does not leave the other workers idle."""
    target = max(_MIN_CHUNK, -(-events // (4 * workers)))
    return 1 << (target - 1).bit_length()


def workers_available() -> int:
    """Worker processes to use: the CPUs this process may run on, 0 when forking is unsafe."""
    if threading.active_count() != 1 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus if cpus > 1 else 0


def parallel_walk(
    engine: Engine, events: int, newest_hash: str, sizes: set[int], anchored_size: int
) -> Walked | None:
    """The walk of an intact log of ``events`` events ending in ``newest_hash``, by worker
    processes; None when it does not apply (small log, one CPU, threads running, an in-memory
    database) or found anything to look at more closely."""
    workers = workers_available()
    if events < PARALLEL_MIN_EVENTS or workers == 0:
        return None
    dialect = engine.dialect.name
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    if dialect == "sqlite":
        if not args or args[0] in ("", ":memory:"):
            return None
        connect: tuple[Sequence[Any], dict[str, Any]] = ([args[0]], {})
    elif dialect == "postgresql":
        plain = (str, int, float)
        connect = (list(args), {k: v for k, v in kwargs.items() if isinstance(v, plain)})
    else:
        return None
    size = chunk_size(events, workers)
    bounds = [(lo, min(lo + size, events)) for lo in range(0, events, size)]
    context = multiprocessing.get_context("fork")
    processes = min(workers, len(bounds))
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                walk_chunk,
                dialect,
                connect,
                lo,
                hi,
                sorted(s for s in sizes if lo < s <= hi),
                anchored_size,
            )
            for lo, hi in bounds
        ]
        chunks = [f.result() for f in futures]
    return join_chunks(chunks, size, events, newest_hash, processes)


def join_chunks(
    chunks: list[Chunk], size: int, events: int, newest_hash: str, processes: int
) -> Walked | None:
    """The seams between the chunks and the roots at checkpoint sizes (module docstring)."""
    prefix: list[bytes] = []  # compact range of the full chunks before the current one
    roots: dict[int, bytes] = {}
    times: dict[int, str] = {}
    tail_first_time: str | None = None
    prev, last_time = GENESIS_HASH, ""
    for index, chunk in enumerate(chunks):
        expected = min(size, events - chunk.lo)
        if not chunk.ok or chunk.count != expected:
            return None
        if chunk.first_prev != prev or chunk.first_time < last_time:
            return None
        for at, stack in chunk.stacks.items():
            roots[at] = _fold(prefix + stack)
        times.update(chunk.times)
        if chunk.tail_first_time is not None:
            tail_first_time = chunk.tail_first_time
        prev, last_time = chunk.last_hash, chunk.last_time
        if index < len(chunks) - 1:
            node, merges = chunk.root, index + 1
            while not merges & 1:
                node = hashlib.sha256(b"\x01" + prefix.pop() + node).digest()
                merges >>= 1
            prefix.append(node)
    if prev != newest_hash:
        return None
    return Walked(events, prev, roots, times, tail_first_time, processes)


__all__ = [
    "PARALLEL_MIN_EVENTS",
    "Chunk",
    "Walked",
    "chunk_size",
    "join_chunks",
    "parallel_walk",
    "walk_chunk",
    "walk_rows",
]
