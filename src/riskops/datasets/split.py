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


def split_rows(y: np.ndarray, split: Split) -> SplitIndex:
    """Split row positions by the spec's method, test size and seed."""
    positions = np.arange(len(y))
    train, validation = train_test_split(
        positions,
        test_size=split.test_size,
        random_state=split.seed,
        stratify=y if split.method == "stratified" else None,
    )
    return SplitIndex(train=np.sort(train), validation=np.sort(validation))
