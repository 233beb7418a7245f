"""RFC 6962 Merkle tree: published known answers, the transparency-dev proof vectors (happy paths
and every negative case), and properties over random trees."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    ListSource,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "vectors"

# RFC 6962 reference leaves and the root of the first n of them (transparency-dev/merkle).
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REFERENCE_HASHES = [leaf_hash(d) for d in REFERENCE_LEAVES]


def _cases(kind: str) -> list[Any]:
    params = []
    for path in sorted((VECTORS / kind).glob("*.json")):
        data = json.loads(path.read_text())
        for name, case in data["cases"].items():
            params.append(pytest.param(case, id=f"{kind}/{path.stem}/{name}"))
    return params


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def test_vector_set_is_the_one_the_readme_describes() -> None:
    inclusion, consistency = _cases("inclusion"), _cases("consistency")
    assert len(inclusion) == 53
    assert len(consistency) == 45
    negatives = [p for p in inclusion + consistency if p.values[0]["wantErr"]]
    assert len(negatives) == 98 - 10


# -- known answers -------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == REFERENCE_ROOTS[0]
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    hashes = REFERENCE_HASHES[:size]
    assert root(hashes).hex() == REFERENCE_ROOTS[size]
    assert subtree_root(0, size, ListSource(REFERENCE_HASHES)).hex() == REFERENCE_ROOTS[size]
    compact = CompactRange()
    for h in hashes:
        compact.append(h)
    assert compact.root().hex() == REFERENCE_ROOTS[size]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"").hex() == REFERENCE_ROOTS[1]
    assert node_hash(REFERENCE_HASHES[0], REFERENCE_HASHES[1]).hex() == REFERENCE_ROOTS[2]
    # A two-leaf tree's root is not the leaf hash of its children's concatenation.
    pair = REFERENCE_HASHES[0] + REFERENCE_HASHES[1]
    assert leaf_hash(pair) != node_hash(REFERENCE_HASHES[0], REFERENCE_HASHES[1])


# -- transparency-dev vectors -----------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    args = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError, match=r"\w"):
            verify_inclusion(*args, _b64(case["root"]))
    else:
        verify_inclusion(*args, _b64(case["root"]))
        # And our own proof for the reference tree is the published one.
        source = ListSource(REFERENCE_HASHES[: case["treeSize"]])
        assert inclusion_proof(case["leafIdx"], case["treeSize"], source) == _proof(case)


@pytest.mark.parametrize("case", _cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError, match=r"\w"):
            verify_consistency(*args)
    else:
        verify_consistency(*args)
        source = ListSource(REFERENCE_HASHES[: case["size2"]])
        assert consistency_proof(case["size1"], case["size2"], source) == _proof(case)


# -- messages and argument checks ---------------------------------------------------------------


def _tree(n: int) -> tuple[list[bytes], ListSource]:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    return hashes, ListSource(hashes)


def test_inclusion_errors_say_what_is_wrong() -> None:
    hashes, source = _tree(7)
    good = inclusion_proof(3, 7, source)
    r = root(hashes)
    with pytest.raises(ProofError, match=r"leaf index 7 is outside a tree of size 7"):
        verify_inclusion(7, 7, hashes[3], good, r)
    with pytest.raises(ProofError, match=r"has 2 hashes, but these sizes need 3"):
        verify_inclusion(3, 7, hashes[3], good[:2], r)
    with pytest.raises(ProofError, match=r"proof hash 1 must be 32 bytes"):
        verify_inclusion(3, 7, hashes[3], [good[0], b"short", good[2]], r)
    with pytest.raises(ProofError, match=r"leads to root [0-9a-f]{64}, not the expected"):
        verify_inclusion(3, 7, hashes[4], good, r)
    with pytest.raises(ValueError, match=r"leaf index -1 is outside"):
        inclusion_proof(-1, 7, source)


def test_consistency_errors_say_what_is_wrong() -> None:
    hashes, source = _tree(7)
    old, new = root(hashes[:3]), root(hashes)
    good = consistency_proof(3, 7, source)
    with pytest.raises(ProofError, match=r"sizes 8 -> 7: need 0 <= old_size <= size"):
        verify_consistency(8, 7, old, new, good)
    with pytest.raises(ProofError, match=r"leads to old root"):
        verify_consistency(3, 7, root(hashes[:2] + hashes[4:5]), new, good)
    with pytest.raises(ProofError, match=r"leads to new root"):
        verify_consistency(3, 7, old, root(hashes[:6]), good)
    with pytest.raises(ProofError, match=r"trees of equal size 7 have different roots"):
        verify_consistency(7, 7, old, new, [])
    with pytest.raises(
        ProofError, match=r"between equal sizes has 1 hashes, but these sizes need 0"
    ):
        verify_consistency(7, 7, new, new, [new])
    with pytest.raises(ProofError, match=r"from the empty tree has 1 hashes"):
        verify_consistency(0, 7, EMPTY_ROOT, new, [new])
    with pytest.raises(ProofError, match=r"old root of an empty tree must be SHA-256"):
        verify_consistency(0, 7, new, new, [])
    verify_consistency(0, 7, EMPTY_ROOT, new, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ValueError, match=r"sizes 5 -> 4"):
        consistency_proof(5, 4, source)


def test_subtree_root_refuses_ranges_the_tree_does_not_contain() -> None:
    _, source = _tree(8)
    with pytest.raises(ValueError, match=r"lo must be a multiple of 4"):
        subtree_root(2, 5, source)
    with pytest.raises(ValueError, match=r"subtree \[3, 3\) is empty"):
        subtree_root(3, 3, source)
    with pytest.raises(ValueError, match=r"needs leaves up to 16, but the list holds 8"):
        subtree_root(0, 16, source)
    with pytest.raises(ValueError, match=r"node \(0, 0\) from the node source must be 32 bytes"):
        subtree_root(0, 1, lambda level, index: b"x")


def test_compact_range_checks_its_frontier() -> None:
    with pytest.raises(ValueError, match=r"size 5 has 2 subtree roots \(one per set bit\), got 1"):
        CompactRange(5, [EMPTY_ROOT])
    with pytest.raises(ValueError, match=r"subtree root 0 must be 32 bytes"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match=r"leaf hash must be 32 bytes"):
        CompactRange().append(b"data, not a hash")


# -- properties ---------------------------------------------------------------------------------


def _path_shape(index: int, size: int) -> list[bool]:
    """Whether each sibling on PATH(index, D[0:size]) is on the left, leaf upwards (RFC 6962
    2.1.1's recursion, written out independently of the module)."""
    if size == 1:
        return []
    k = 1 << ((size - 1).bit_length() - 1)
    if index < k:
        return [*_path_shape(index, k), False]
    return [*_path_shape(index - k, size - k), True]


def test_a_proof_fixes_the_size_only_up_to_the_shape_of_the_path() -> None:
    hashes, source = _tree(129)
    proof = inclusion_proof(0, 129, source)
    # Leaf 0 of 129 and of 130 leaves has the same path shape: the proof alone cannot tell them
    # apart, which is why a checkpoint signs the size together with the root.
    verify_inclusion(0, 130, hashes[0], proof, root(hashes))
    with pytest.raises(ProofError, match=r"has 8 hashes, but these sizes need 7"):
        verify_inclusion(0, 128, hashes[0], proof, root(hashes))


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_inclusion_proofs_verify_and_any_change_breaks_them(size: int, data: Any) -> None:
    hashes, source = _tree(size)
    r = root(hashes)
    for index in range(size):
        proof = inclusion_proof(index, size, source)
        verify_inclusion(index, size, hashes[index], proof, r)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, source)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
    for i in range(len(proof)):
        bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(index, size, hashes[index], bad, r)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, hashes[index], proof, _flip(r, bit))
    with pytest.raises(ProofError):
        verify_inclusion(index, size, _flip(hashes[index], bit), proof, r)
    other_index = data.draw(st.integers(0, size).filter(lambda i: i != index), label="other")
    with pytest.raises(ProofError):
        verify_inclusion(other_index, size, hashes[index], proof, r)
    # A proof does not fix the size on its own: a tree whose path to this leaf has the same
    # shape accepts it (RFC 9162 binds the size through the signed tree head). Any other size
    # must be refused.
    other_size = data.draw(st.integers(1, 600).filter(lambda n: n != size), label="size")
    if index < other_size and _path_shape(index, other_size) == _path_shape(index, size):
        verify_inclusion(index, other_size, hashes[index], proof, r)
    else:
        with pytest.raises(ProofError):
            verify_inclusion(index, other_size, hashes[index], proof, r)


@settings(max_examples=10, deadline=None)
@given(size=st.integers(1, 48))
def test_consistency_for_every_pair_and_any_change_breaks_it(size: int) -> None:
    hashes, source = _tree(size)
    roots = [root(hashes[:m]) for m in range(size + 1)]
    for old in range(size + 1):
        proof = consistency_proof(old, size, source)
        verify_consistency(old, size, roots[old], roots[size], proof)
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], i % 256), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(old, size, roots[old], roots[size], bad)
        if 0 < old < size:
            with pytest.raises(ProofError):
                verify_consistency(old, size, _flip(roots[old], 7), roots[size], proof)
            with pytest.raises(ProofError):
                verify_consistency(old, size, roots[old], _flip(roots[size], 7), proof)
            for other in range(1, size):
                if other != old:
                    with pytest.raises(ProofError):
                        verify_consistency(other, size, roots[other], roots[size], proof)


@settings(max_examples=20, deadline=None)
@given(size=st.integers(0, 300))
def test_compact_range_matches_root_and_reports_every_completed_node(size: int) -> None:
    hashes, source = _tree(size)
    compact = CompactRange()
    seen: set[tuple[int, int]] = set()
    for n, h in enumerate(hashes, start=1):
        for level, index, node in compact.append(h):
            assert node == source(level, index)
            seen.add((level, index))
        assert compact.size == n
        assert compact.root() == root(hashes[:n])
    # Every perfect node of the tree is reported exactly once over the appends.
    expected = {(lv, i) for lv in range(size.bit_length()) for i in range(size >> lv)}
    assert seen == expected
    restored = CompactRange(compact.size, compact.hashes)
    assert restored.root() == root(hashes)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 5000), data=st.data())
def test_proofs_use_logarithmically_many_lookups(size: int, data: Any) -> None:
    _, inner = _tree(size)
    calls = 0

    def counting(level: int, index: int) -> bytes:
        nonlocal calls
        calls += 1
        return inner(level, index)

    bound = 2 * size.bit_length() + 2
    subtree_root(0, size, counting)
    assert calls <= size.bit_count()
    calls = 0
    inclusion_proof(data.draw(st.integers(0, size - 1)), size, counting)
    assert calls <= bound
    calls = 0
    consistency_proof(data.draw(st.integers(0, size)), size, counting)
    assert calls <= bound
