"""The fused KS/Wasserstein pass equals scipy (through the drift module) on fixed and random
data, large samples included (where the p-value is Smirnov's asymptotic one)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from riskops.errors import InputError
from riskops.statistics import drift
from riskops.statistics.two_sample import ks_wasserstein

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(
    st.lists(finite | st.sampled_from([0.0, 1.0, 2.0]), min_size=1, max_size=60),
    st.lists(finite | st.sampled_from([0.0, 1.0, 2.0]), min_size=1, max_size=60),
)
def test_equals_the_drift_module_on_random_samples(a: list[float], b: list[float]) -> None:
    result = ks_wasserstein(a, b)
    ks, p_value = drift.ks_exact(np.array(a), np.array(b))
    assert result.ks == ks
    assert result.ks_p == p_value
    expected = drift.wasserstein_exact(np.array(a), np.array(b))
    assert result.wasserstein == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert 0.0 <= result.ks <= 1.0
    assert ks_wasserstein(b, a).ks == result.ks  # symmetric


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.2])
def test_large_samples_match_scipy_bit_for_bit_on_ks(shift: float) -> None:
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(0, 1, 30_000), 2)  # ties on purpose
    b = np.round(rng.normal(shift, 1, 20_000), 2)
    a[:100] = np.nan
    result = ks_wasserstein(a, b)
    expected = stats.ks_2samp(a[~np.isnan(a)], b)
    assert result.ks == expected.statistic
    assert result.ks_p == expected.pvalue
    w = stats.wasserstein_distance(a[~np.isnan(a)], b)
    assert result.wasserstein == pytest.approx(w, rel=1e-12)
    assert result.normed == pytest.approx(w / np.nanstd(a), rel=1e-12)


def test_identical_samples_and_constant_reference() -> None:
    same = ks_wasserstein([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.0, 3.0])
    assert (same.ks, same.wasserstein) == (0.0, 0.0)
    constant = ks_wasserstein([5.0] * 20, [5.0] * 10 + [6.0] * 10)
    assert constant.wasserstein == 0.5
    assert math.isnan(constant.normed)


def test_bad_samples_are_refused() -> None:
    with pytest.raises(InputError, match="The current sample has no non-missing value"):
        ks_wasserstein([1.0], [math.nan])
    with pytest.raises(InputError, match="The reference sample holds an infinity"):
        ks_wasserstein([math.inf, 1.0], [1.0])
