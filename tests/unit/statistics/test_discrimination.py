"""Discrimination statistics against reference implementations on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from riskops.statistics.discrimination import auc, gini, ks, summary


def test_auc_of_a_small_fixed_example() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)


def test_ks_equals_scipys_two_sample_statistic() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 2000)
    score = rng.normal(0.0, 1.0, 2000) + 0.8 * y
    expected = ks_2samp(score[y == 1], score[y == 0]).statistic
    assert ks(y, score) == pytest.approx(expected, abs=1e-12)


@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)), min_size=4, max_size=60
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_bounds_and_symmetry(rows: list[tuple[int, float]]) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows])
    values = summary(y, s)
    assert 0.0 <= values["auc"] <= 1.0
    assert 0.0 <= values["ks"] <= 1.0
    assert values["gini"] == pytest.approx(2 * values["auc"] - 1)
    # Flipping the score flips the AUC around 0.5 and leaves KS unchanged.
    assert auc(y, -s) == pytest.approx(1 - values["auc"])
    assert ks(y, -s) == pytest.approx(values["ks"])


def test_one_class_cannot_be_measured() -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1, 1], [0.2, 0.4, 0.6])
