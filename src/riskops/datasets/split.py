"""The deterministic split into training, validation and (optionally) test rows: the same
data and seed give the same rows.

Roles: the training rows fit the model; the validation rows serve tuning, the champion
comparison and anything a developer iterates on; the test rows (``data.split.holdout_size``)
are scored once per version, for the figures the validation report states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from riskops.spec import Split


@dataclass(frozen=True)
class SplitIndex:
    """Row positions of the training, validation and test parts (``test`` is None when the
    spec keeps no test partition)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray | None = None

    def sizes(self) -> dict[str, int]:
        """Rows per partition, e.g. ``{"train": 600, "validation": 200, "test": 200}``."""
        sizes = {"train": len(self.train), "validation": len(self.validation)}
        if self.test is not None:
            sizes["test"] = len(self.test)
        return sizes


def split_rows(y: np.ndarray, split: Split, *, times: np.ndarray | None = None) -> SplitIndex:
    """Split row positions by the spec's method, sizes and seed.

    ``test_size`` and ``holdout_size`` are shares of all rows (validation and test).

    ``time`` (``times`` given, one per row): the test part is every row at or after the time
    of the row at position ``ceil((1 - holdout_size) · n)`` in time order, validation every
    row at or after position ``ceil((1 - holdout_size - test_size) · n)`` and before the test,
    training every earlier row; rows of one instant stay in one part and every later part is
    out of time for the earlier ones.

    ``stratified``/``random``: the test rows are drawn first (stratified by ``y`` when asked),
    then validation from the rest, both with ``seed``. Without ``holdout_size`` the split is
    the two-way split of earlier releases, row for row.
    """
    positions = np.arange(len(y))
    holdout = split.holdout_size
    if split.method == "time":
        if times is None or len(times) != len(y):
            raise ValueError("the time split needs one time per row")
        ordered = np.sort(times, kind="stable")

        def cut(share_after: float) -> np.int64:
            index = int(np.ceil((1.0 - share_after) * len(y)))
            return np.int64(ordered[min(len(y) - 1, index)])

        if holdout is None:
            at = cut(split.test_size)
            return SplitIndex(train=positions[times < at], validation=positions[times >= at])
        test_from, validation_from = cut(holdout), cut(holdout + split.test_size)
        return SplitIndex(
            train=positions[times < validation_from],
            validation=positions[(times >= validation_from) & (times < test_from)],
            test=positions[times >= test_from],
        )
    stratify = split.method == "stratified"
    test = None
    rest = positions
    validation_share = split.test_size
    if holdout is not None:
        rest, test = train_test_split(
            positions,
            test_size=holdout,
            random_state=split.seed,
            stratify=y if stratify else None,
        )
        validation_share = split.test_size / (1.0 - holdout)
    train, validation = train_test_split(
        rest,
        test_size=validation_share,
        random_state=split.seed,
        stratify=y[rest] if stratify else None,
    )
    return SplitIndex(
        train=np.sort(train),
        validation=np.sort(validation),
        test=np.sort(test) if test is not None else None,
    )
