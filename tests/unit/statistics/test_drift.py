"""Drift statistics on counts: against scipy/numpy on fixed data, their properties on random
counts, the stated bounds of KS and Wasserstein-1 against the exact values, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.spatial.distance import jensenshannon

from riskops.errors import InputError
from riskops.statistics.drift import (
    chi_square,
    hellinger,
    jensen_shannon,
    ks_exact,
    ks_from_counts,
    linf,
    psi,
    wasserstein_exact,
    wasserstein_from_counts,
)
from riskops.statistics.stability import numeric_stability, population_stability_index

REF = np.array([[120, 300, 280, 200, 100, 0], [10, 0, 50, 30, 10, 0]], dtype=np.int64)
CUR = np.array([[100, 250, 300, 250, 90, 10], [0, 5, 45, 40, 10, 0]], dtype=np.int64)


def shares(row: np.ndarray) -> np.ndarray:
    return row / row.sum()


def test_psi_equals_the_validation_gates_psi() -> None:
    values = psi(REF, CUR)
    for r in range(2):
        keep = (REF[r] + CUR[r]) > 0
        expected = population_stability_index(shares(REF[r])[keep], shares(CUR[r])[keep])
        assert values[r] == pytest.approx(expected, rel=1e-12)


def test_psi_on_profile_like_deciles_matches_numeric_stability() -> None:
    rng = np.random.default_rng(3)
    expected_values = rng.normal(0, 1, 2000)
    actual_values = rng.normal(0.3, 1, 1500)
    index = numeric_stability(expected_values, actual_values, bins=10)
    ref = np.array([[b.expected_count for b in index.bins]])
    cur = np.array([[b.actual_count for b in index.bins]])
    assert psi(ref, cur)[0] == pytest.approx(index.value, rel=1e-12)


def test_jensen_shannon_hellinger_linf_against_scipy_and_numpy() -> None:
    for r in range(2):
        p, q = shares(REF[r]), shares(CUR[r])
        assert jensen_shannon(REF, CUR)[r] == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)
        assert jensen_shannon(REF, CUR, base=math.e)[r] == pytest.approx(
            jensenshannon(p, q), rel=1e-12
        )
        by_hand = np.sqrt(1.0 - np.sum(np.sqrt(p * q)))
        assert hellinger(REF, CUR)[r] == pytest.approx(by_hand, rel=1e-12)
        assert linf(REF, CUR)[r] == pytest.approx(np.max(np.abs(p - q)), rel=1e-15)


def test_chi_square_against_scipy() -> None:
    statistic, dof, p_value = chi_square(REF, CUR)
    for r in range(2):
        table = np.stack([REF[r], CUR[r]])
        table = table[:, table.sum(axis=0) > 0]
        expected = stats.chi2_contingency(table, correction=False)
        assert statistic[r] == pytest.approx(expected.statistic, rel=1e-12)
        assert dof[r] == expected.dof
        assert p_value[r] == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_and_wasserstein_against_scipy_when_bins_hold_one_value() -> None:
    # Integer data binned at every integer: the edge CDFs are the exact ECDFs.
    rng = np.random.default_rng(11)
    a = rng.integers(0, 20, 500)
    b = rng.integers(2, 22, 400)
    edges = np.arange(0, 23, dtype=np.float64)
    ref = np.bincount(a, minlength=22).reshape(1, -1)
    cur = np.bincount(b, minlength=22).reshape(1, -1)
    statistic, _ = ks_from_counts(ref, cur)
    assert statistic[0] == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    distance, bound = wasserstein_from_counts(ref, cur, edges)
    exact = stats.wasserstein_distance(a, b)
    assert abs(distance[0] - exact) <= bound[0] + 1e-12
    assert bound[0] <= 1.0
    normed, _ = wasserstein_from_counts(ref, cur, edges, scale=np.std(a))
    assert normed[0] == pytest.approx(distance[0] / np.std(a), rel=1e-12)


def test_exact_versions_are_scipys() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(0, 2, 300)
    b = np.append(rng.normal(0.5, 2, 200), np.nan)
    result = stats.ks_2samp(a, b[:-1])
    assert ks_exact(a, b) == (result.statistic, result.pvalue)
    assert wasserstein_exact(a, b) == stats.wasserstein_distance(a, b[:-1])
    assert wasserstein_exact(a, b, normed=True) == pytest.approx(
        stats.wasserstein_distance(a, b[:-1]) / np.std(a), rel=1e-15
    )
    assert math.isnan(wasserstein_exact(np.ones(5), b, normed=True))


def test_a_row_without_rows_is_nan() -> None:
    ref = np.array([[5, 5], [0, 0]])
    cur = np.array([[4, 6], [3, 1]])
    for values in (psi(ref, cur), hellinger(ref, cur), jensen_shannon(ref, cur), linf(ref, cur)):
        assert not math.isnan(values[0])
        assert math.isnan(values[1])
    assert math.isnan(chi_square(ref, cur)[2][1])


counts = (
    st.integers(min_value=1, max_value=12)
    .flatmap(
        lambda bins: st.tuples(
            arrays(np.int64, (3, bins), elements=st.integers(0, 1000)),
            arrays(np.int64, (3, bins), elements=st.integers(0, 1000)),
        )
    )
    .filter(lambda pair: bool((pair[0].sum(axis=1) > 0).all() and (pair[1].sum(axis=1) > 0).all()))
)


@given(counts)
def test_identical_distributions_give_zero(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, _ = pair
    doubled = ref * 2  # same shares, other size
    for statistic in (psi, jensen_shannon, hellinger, linf):
        assert np.allclose(statistic(ref, doubled), 0.0, atol=1e-7)
    assert np.allclose(chi_square(ref, doubled)[0], 0.0, atol=1e-9)
    assert np.allclose(ks_from_counts(ref, doubled)[0], 0.0, atol=1e-12)
    edges = np.arange(ref.shape[1] + 1, dtype=np.float64)
    distance, bound = wasserstein_from_counts(ref, doubled, edges)
    assert np.all(distance <= bound + 1e-12)


@given(counts)
def test_properties_on_random_counts(pair: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = pair
    for symmetric in (jensen_shannon, hellinger, linf):
        forward = symmetric(ref, cur)
        assert np.allclose(forward, symmetric(cur, ref), atol=1e-12)
        assert np.all((forward >= 0) & (forward <= 1 + 1e-12))
    assert np.allclose(psi(ref, cur), psi(cur, ref), atol=1e-9)  # PSI is symmetric too
    assert np.all(psi(ref, cur) >= 0)
    statistic, dof, p_value = chi_square(ref, cur)
    assert np.all(statistic >= -1e-9)
    assert np.all((p_value >= 0) & (p_value <= 1))
    assert np.all(dof <= ref.shape[1] - 1)
    ks, bound = ks_from_counts(ref, cur)
    assert np.all((ks >= 0) & (ks <= 1 + 1e-12))
    largest_bin = np.maximum(ref / ref.sum(1, keepdims=True), cur / cur.sum(1, keepdims=True))
    assert np.all(bound <= largest_bin.max(axis=1) + 1e-12)


@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=60),
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=30),
)
def test_count_based_ks_and_w1_hold_their_bounds(a: list[float], b: list[float], bins: int) -> None:
    edges = np.linspace(-50.0, np.nextafter(50.0, np.inf), bins + 1)
    ref = np.bincount(np.searchsorted(edges, a, side="right") - 1, minlength=bins)
    cur = np.bincount(np.searchsorted(edges, b, side="right") - 1, minlength=bins)
    ks, ks_bound = ks_from_counts(ref, cur)
    exact_ks, _ = ks_exact(np.array(a), np.array(b))
    assert ks[0] - 1e-12 <= exact_ks <= ks[0] + ks_bound[0] + 1e-12
    width = edges[1] - edges[0]
    distance, bound = wasserstein_from_counts(ref, cur, edges)
    assert bound[0] <= width + 1e-9
    assert abs(wasserstein_exact(np.array(a), np.array(b)) - distance[0]) <= bound[0] + 1e-9


@pytest.mark.parametrize(
    ("ref", "cur", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "must have one shape"),
        (np.array([[1, -1]]), np.array([[1, 1]]), "negative count"),
        (np.array([[1.0, np.nan]]), np.array([[1, 1]]), "NaN or an infinity"),
        (np.array([["a", "b"]]), np.array([["a", "b"]]), "not numbers"),
        (np.zeros((2, 0)), np.zeros((2, 0)), "at least one bin"),
    ],
)
def test_bad_counts_are_refused(ref: np.ndarray, cur: np.ndarray, message: str) -> None:
    for statistic in (psi, jensen_shannon, hellinger, linf, chi_square, ks_from_counts):
        with pytest.raises(InputError, match=message):
            statistic(ref, cur)


def test_bad_edges_and_raw_samples_are_refused() -> None:
    with pytest.raises(InputError, match="one edge more than it has bins"):
        wasserstein_from_counts(np.ones((1, 3)), np.ones((1, 3)), np.arange(3.0))
    with pytest.raises(InputError, match="non-decreasing"):
        wasserstein_from_counts(np.ones((1, 2)), np.ones((1, 2)), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(InputError, match="no non-missing value"):
        ks_exact(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(InputError, match="infinity"):
        wasserstein_exact(np.array([1.0]), np.array([np.inf]))
