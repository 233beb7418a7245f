"""Proxy analysis: a feature built from the protected attribute is flagged, an independent one
is not, and Cramér's V keeps its range and symmetry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskops.statistics.proxies import binned, combined_auc, cramers_v, feature_proxies


def _population(rows: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(11)
    groups = rng.choice(np.array(["young", "older"], dtype=object), size=rows, p=[0.3, 0.7])
    young = groups == "young"
    flipped = rng.random(rows) < 0.15  # a noisy copy: 15% of rows say the other group
    features = pd.DataFrame(
        {
            "independent_amount": rng.lognormal(8.0, 1.0, size=rows),
            "independent_purpose": pd.Categorical(rng.choice(["car", "tv", "repairs"], size=rows)),
            "noisy_copy": pd.Categorical(np.where(young ^ flipped, "a", "b")),
            "years_at_address": np.where(young, 1.0, 6.0) + rng.normal(0.0, 1.5, size=rows),
        }
    )
    return features, groups


def test_a_copy_of_the_attribute_is_a_perfect_proxy_and_an_independent_feature_is_none() -> None:
    features, groups = _population()
    assert cramers_v(groups, groups) == pytest.approx(1.0)
    ranked = feature_proxies(features, groups)
    by_name = {p.feature: p for p in ranked}
    assert [p.feature for p in ranked[:2]] == ["years_at_address", "noisy_copy"] or [
        p.feature for p in ranked[:2]
    ] == ["noisy_copy", "years_at_address"]
    assert by_name["noisy_copy"].cramers_v > 0.6
    assert by_name["years_at_address"].measured_as == "deciles"
    assert by_name["independent_amount"].cramers_v < 0.1
    assert by_name["independent_purpose"].cramers_v < 0.1
    assert [p.cramers_v for p in ranked] == sorted((p.cramers_v for p in ranked), reverse=True)


def test_the_features_together_predict_the_attribute_only_when_they_carry_it() -> None:
    features, groups = _population()
    carrying = combined_auc(features, groups)
    independent = combined_auc(features[["independent_amount", "independent_purpose"]], groups)
    assert carrying is not None
    assert independent is not None
    assert carrying > 0.9
    assert abs(independent - 0.5) < 0.1
    # One group of fewer rows than folds cannot be cross-validated.
    assert combined_auc(features.iloc[:4], np.array(["a", "a", "b", "b"], dtype=object)) is None


def test_numbers_are_cut_at_deciles_and_missing_is_its_own_bin() -> None:
    values = pd.Series([float(v) for v in range(100)] + [np.nan])
    bins = binned(values)
    assert set(bins[:-1]) == set(range(10))
    assert bins[-1] == -1
    # Two values make two bins, however many deciles are asked for.
    assert len(set(binned(pd.Series([1.0, 2.0, 1.0, 2.0])))) == 2
    assert set(binned(pd.Series([np.nan, np.nan]))) == {-1}


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xyz")), min_size=2, max_size=120)
)
def test_cramers_v_is_symmetric_and_between_zero_and_one(pairs: list[tuple[str, str]]) -> None:
    x = np.array([p[0] for p in pairs], dtype=object)
    y = np.array([p[1] for p in pairs], dtype=object)
    v = cramers_v(x, y)
    assert 0.0 <= v <= 1.0
    assert v == pytest.approx(cramers_v(y, x), abs=1e-6)  # sqrt of a rounding-level φ²
