"""The Merkle root that seals a batch of decisions in the audit chain.

Leaves are SHA-256 digests (hex) given in the batch's order. The tree is built level by level:
adjacent nodes are paired left to right and replaced by ``sha256(left || right)`` over their
32 raw bytes each; when a level has an odd number of nodes, the last one is promoted to the
next level unchanged. The root is the single node left; a batch of one decision has its leaf as
root. Any change of a leaf, any deleted, added or reordered leaf changes the root (barring a
SHA-256 collision); the batch's count is sealed beside the root, so the tree's shape is fixed too.

Example::

    merkle_root(["aa" * 32, "bb" * 32, "cc" * 32])
    # sha256(sha256(aa..||bb..) || cc..)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def merkle_root(leaves: Sequence[str]) -> str:
    """The root (hex) over ``leaves`` (hex SHA-256 digests), as the module docstring defines."""
    if not leaves:
        raise ValueError("a Merkle root needs at least one leaf")
    level = [bytes.fromhex(leaf) for leaf in leaves]
    while len(level) > 1:
        paired = [
            hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()
