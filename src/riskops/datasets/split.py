"""The deterministic train/validation split: the same data and seed give the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from riskops.spec import Split


@dataclass(frozen=True)
class SplitIndex:
    """Row positions of the training and validation parts."""

    train: np.ndarray
    validation: np.ndarray


def split_rows(y: np.ndarray, split: Split, *, times: np.ndarray | None = None) -> SplitIndex:
    """Split row positions by the spec's method, test size and seed.

    ``time`` (``times`` given, one per row): validation is every row at or after the time of
    the row at position ``ceil((1 - test_size) · n)`` in time order, training every earlier
    row, so rows of one instant stay on one side and validation is out of time."""
    positions = np.arange(len(y))
    if split.method == "time":
        if times is None or len(times) != len(y):
            raise ValueError("the time split needs one time per row")
        ordered = np.sort(times, kind="stable")
        cut = ordered[min(len(y) - 1, int(np.ceil((1.0 - split.test_size) * len(y))))]
        return SplitIndex(train=positions[times < cut], validation=positions[times >= cut])
    train, validation = train_test_split(
        positions,
        test_size=split.test_size,
        random_state=split.seed,
        stratify=y if split.method == "stratified" else None,
    )
    return SplitIndex(train=np.sort(train), validation=np.sort(validation))
