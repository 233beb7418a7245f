"""The RFC 6962 Merkle tree (RFC 9162 §2.1): hashes, proofs and their verification.

Leaves and interior nodes are hashed with different one-byte prefixes, so a leaf can never be
passed off as a node::

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH([])         = SHA-256(b"")
    MTH([h])        = h                                    (h is already a leaf hash)
    MTH(D[0:n])     = node_hash(MTH(D[0:k]), MTH(D[k:n]))  k = largest power of two < n

For three leaves the root is ``node_hash(node_hash(h0, h1), h2)``. Proofs are built from a
``NodeSource`` that returns the hash of a perfect subtree (``2**level`` leaves starting at
``index * 2**level``), so a log that stores completed subtrees answers any proof with
O(log n) lookups::

    >>> hashes = [leaf_hash(d) for d in (b"a", b"b", b"c")]
    >>> proof = inclusion_proof(2, 3, ListSource(hashes))
    >>> verify_inclusion(2, 3, hashes[2], proof, root(hashes))  # raises ProofError if not

A proof lists sibling hashes from the leaf upwards, as RFC 9162 §2.1.3.1 and §2.1.4.1 build
them; the verifiers follow §2.1.3.2 and §2.1.4.2 step by step. A proof does not fix the tree
size by itself (leaf 0 of 129 and of 130 leaves have paths of the same shape): verify against a
root whose size is signed with it, as a checkpoint does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A proof that does not verify; the message says which check failed."""


class NodeSource(Protocol):
    """Returns the hash of the perfect subtree of ``2**level`` leaves starting at leaf
    ``index * 2**level``."""

    def __call__(self, level: int, index: int) -> bytes: ...


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str, error: type[ValueError] = ValueError) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise error(f"{what} must be {HASH_SIZE} bytes (a SHA-256 digest), got {size}")


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves; ``EMPTY_ROOT`` for none."""
    if not leaf_hashes:
        return EMPTY_ROOT
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")
    # Fold left to right keeping one pending root per level: the same frontier as CompactRange.
    frontier = CompactRange()
    for h in leaf_hashes:
        frontier.append(bytes(h))
    return frontier.root()


def subtree_root(lo: int, hi: int, node: NodeSource) -> bytes:
    """MTH of leaves ``[lo, hi)`` from one lookup per set bit of ``hi - lo``.

    ``lo`` must be a multiple of the smallest power of two >= ``hi - lo``, which holds for every
    subtree that RFC 6962's splits produce.
    """
    if not 0 <= lo < hi:
        raise ValueError(f"subtree [{lo}, {hi}) is empty or negative; need 0 <= lo < hi")
    width = hi - lo
    span = 1 << (width - 1).bit_length()
    if lo % span:
        raise ValueError(
            f"subtree [{lo}, {hi}) is not one the tree contains: lo must be a multiple of {span}"
        )
    parts: list[bytes] = []
    start = lo
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            h = node(level, start >> level)
            _check_hash(h, f"node ({level}, {start >> level}) from the node source")
            parts.append(h)
            start += 1 << level
    result = parts[-1]
    for left in reversed(parts[:-1]):
        result = node_hash(left, result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose roots form PATH(index, D[0:size]), leaf upwards."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose roots form PROOF(old_size, D[0:size]), in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _check_sizes_inclusion(index: int, size: int, error: type[ValueError]) -> None:
    if not 0 <= index < size:
        raise error(f"leaf index {index} is outside a tree of size {size}; need 0 <= index < size")


def _check_sizes_consistency(old_size: int, size: int, error: type[ValueError]) -> None:
    if not 0 <= old_size <= size:
        raise error(f"sizes {old_size} -> {size}: need 0 <= old_size <= size")


def inclusion_proof(index: int, size: int, node: NodeSource) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves (RFC 9162
    §2.1.3.1), leaf upwards."""
    _check_sizes_inclusion(index, size, ValueError)
    return [subtree_root(lo, hi, node) for lo, hi in _inclusion_ranges(index, size)]


def consistency_proof(old_size: int, size: int, node: NodeSource) -> list[bytes]:
    """The proof that the first ``old_size`` leaves are a prefix of the first ``size`` (RFC 9162
    §2.1.4.1); empty when ``old_size`` is 0 or equals ``size``."""
    _check_sizes_consistency(old_size, size, ValueError)
    if old_size in (0, size):
        return []
    return [subtree_root(lo, hi, node) for lo, hi in _consistency_ranges(old_size, size)]


def _check_proof(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise ProofError(f"{what} has {len(proof)} hashes, but these sizes need {expected}")
    for i, h in enumerate(proof):
        _check_hash(h, f"proof hash {i}", ProofError)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` leaves whose
    root is ``root`` (RFC 9162 §2.1.3.2). Raises ``ProofError`` saying why not."""
    _check_sizes_inclusion(index, size, ProofError)
    _check_hash(leaf, "leaf hash", ProofError)
    _check_hash(root, "root", ProofError)
    _check_proof(proof, len(_inclusion_ranges(index, size)), "inclusion proof")
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} leads to root {r.hex()}, "
            f"not the expected {bytes(root).hex()}"
        )


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` leaves with ``old_root`` is a prefix of the tree of
    ``size`` leaves with ``root`` (RFC 9162 §2.1.4.2). Raises ``ProofError`` saying why not.

    Equal sizes need an empty proof and equal roots; every tree extends the empty tree, so
    ``old_size`` 0 needs an empty proof and ``old_root`` equal to ``EMPTY_ROOT``.
    """
    _check_sizes_consistency(old_size, size, ProofError)
    _check_hash(old_root, "old root", ProofError)
    _check_hash(root, "root", ProofError)
    if old_size == size:
        _check_proof(proof, 0, "consistency proof between equal sizes")
        if old_root != root:
            raise ProofError(f"trees of equal size {size} have different roots")
        return
    if old_size == 0:
        _check_proof(proof, 0, "consistency proof from the empty tree")
        if old_root != EMPTY_ROOT:
            raise ProofError("the old root of an empty tree must be SHA-256 of the empty string")
        return
    _check_proof(proof, len(_consistency_ranges(old_size, size)), "consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(
            f"consistency proof {old_size} -> {size} leads to old root {fr.hex()}, "
            f"not the expected {bytes(old_root).hex()}"
        )
    if sr != root:
        raise ProofError(
            f"consistency proof {old_size} -> {size} leads to new root {sr.hex()}, "
            f"not the expected {bytes(root).hex()}"
        )


class ListSource:
    """A ``NodeSource`` over an in-memory list of leaf hashes; each level is built on first use."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        for i, h in enumerate(leaf_hashes):
            _check_hash(h, f"leaf hash {i}")
        self._levels: list[list[bytes]] = [[bytes(h) for h in leaf_hashes]]

    def __call__(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0:
            raise ValueError(f"node ({level}, {index}): level and index must be >= 0")
        while len(self._levels) <= level:
            below = self._levels[-1]
            self._levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )
        nodes = self._levels[level]
        if index >= len(nodes):
            raise ValueError(
                f"node ({level}, {index}) needs leaves up to {(index + 1) << level}, "
                f"but the list holds {len(self._levels[0])}"
            )
        return nodes[index]


class CompactRange:
    """The roots of the perfect subtrees covering leaves ``[0, size)``: enough to append a leaf
    and compute the root in O(log n).

    >>> r = CompactRange()
    >>> [(lvl, i) for lvl, i, _ in r.append(leaf_hash(b"a")) + r.append(leaf_hash(b"b"))]
    [(0, 0), (0, 1), (1, 0)]
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"size {size} is negative")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a range of size {size} has {size.bit_count()} subtree roots "
                f"(one per set bit), got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            _check_hash(h, f"subtree root {i}")
        self.size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def hashes(self) -> list[bytes]:
        """The subtree roots, largest subtree first (a copy)."""
        return list(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return each perfect node it completes as ``(level, index, hash)``,
        the leaf itself first."""
        _check_hash(leaf, "leaf hash")
        h = bytes(leaf)
        index, level = self.size, 0
        completed = [(0, index, h)]
        while self.size >> level & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            index >>= 1
            completed.append((level, index, h))
        self._hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the first ``size`` leaves (``EMPTY_ROOT`` when empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result
