"""The three-way split: partitions disjoint, covering every row, sized and ordered as asked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskops.datasets.split import split_rows
from riskops.spec import Split

shares = st.tuples(st.floats(0.05, 0.45), st.floats(0.05, 0.45))


def _parts(index: object) -> list[np.ndarray]:
    return [index.train, index.validation, index.test]  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(40, 400),
    sizes=shares,
    seed=st.integers(0, 2**16),
    method=st.sampled_from(["stratified", "random"]),
)
def test_a_sampled_split_covers_every_row_once_with_the_asked_sizes(
    n: int, sizes: tuple[float, float], seed: int, method: str
) -> None:
    validation_share, holdout = sizes
    y = (np.arange(n) % 4 == 0).astype(int)
    split = Split(method=method, test_size=validation_share, holdout_size=holdout, seed=seed)  # type: ignore[arg-type]
    index = split_rows(y, split)
    parts = _parts(index)
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(n))
    assert abs(len(index.test) - holdout * n) <= 1
    assert abs(len(index.validation) - validation_share * n) <= 2
    again = split_rows(y, split)
    assert all(np.array_equal(a, b) for a, b in zip(parts, _parts(again), strict=True))
    if method == "stratified":
        for part in parts:
            assert abs(y[part].mean() - y.mean()) <= 2.0 / len(part)


@settings(max_examples=40, deadline=None)
@given(
    times=st.lists(st.integers(0, 50), min_size=30, max_size=300),
    sizes=shares,
)
def test_a_time_split_puts_test_after_validation_after_training(
    times: list[int], sizes: tuple[float, float]
) -> None:
    validation_share, holdout = sizes
    moments = np.array(times, dtype=np.int64)
    y = np.zeros(len(moments), dtype=int)
    index = split_rows(
        y, Split(method="time", test_size=validation_share, holdout_size=holdout), times=moments
    )
    together = np.concatenate(_parts(index))
    assert sorted(together.tolist()) == list(range(len(moments)))
    assert len(index.test) >= 1
    later = moments[index.test].min()
    if len(index.validation):
        assert moments[index.validation].max() < later
        assert moments[index.validation].min() > moments[index.train].max(initial=-1)
    assert moments[index.train].max(initial=-1) < later
    # ties aside, the test part is the latest holdout share
    if len(set(times)) == len(times):
        assert abs(len(index.test) - holdout * len(times)) <= 1


def test_without_a_holdout_the_split_is_the_two_way_split() -> None:
    y = np.array([0] * 70 + [1] * 30)
    index = split_rows(y, Split(test_size=0.3, seed=5))
    assert index.test is None
    assert index.sizes() == {"train": 70, "validation": 30}


def test_the_test_partition_takes_its_own_share_of_all_rows() -> None:
    y = np.array([0] * 700 + [1] * 300)
    index = split_rows(y, Split(test_size=0.2, holdout_size=0.25, seed=5))
    assert index.sizes() == {"train": 550, "validation": 200, "test": 250}
    assert y[index.test].sum() == 75


def test_shares_that_leave_no_training_rows_are_refused() -> None:
    with pytest.raises(ValidationError, match="leave no training rows"):
        Split(test_size=0.5, holdout_size=0.5)
