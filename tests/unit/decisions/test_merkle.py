from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.decisions.merkle import merkle_root

digests = st.binary(min_size=32, max_size=32).map(bytes.hex)
leaf_lists = st.lists(digests, min_size=1, max_size=40, unique=True)


def _h(left: str, right: str) -> str:
    return hashlib.sha256(bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def test_pairs_left_to_right_and_promotes_the_odd_node() -> None:
    a, b, c = "aa" * 32, "bb" * 32, "cc" * 32
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == _h(a, b)
    assert merkle_root([a, b, c]) == _h(_h(a, b), c)
    with pytest.raises(ValueError, match="at least one leaf"):
        merkle_root([])


@given(leaf_lists, st.data())
def test_any_changed_leaf_changes_the_root(leaves: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(digests.filter(lambda d: d != leaves[i]))
    assert merkle_root([*leaves[:i], other, *leaves[i + 1 :]]) != merkle_root(leaves)


@given(leaf_lists.filter(lambda leaves: len(leaves) > 1), st.data())
def test_any_deleted_leaf_changes_the_root(leaves: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert merkle_root(leaves[:i] + leaves[i + 1 :]) != merkle_root(leaves)


@given(leaf_lists.filter(lambda leaves: len(leaves) > 1), st.data())
def test_any_swap_changes_the_root(leaves: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 2))
    j = data.draw(st.integers(i + 1, len(leaves) - 1))
    swapped = list(leaves)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert merkle_root(swapped) != merkle_root(leaves)
