"""The domain classifier: no shift leaves its AUC interval around 0.5, a shift in one feature
lifts the AUC and ranks that feature first."""

from __future__ import annotations

import numpy as np
import pytest

from riskops.monitoring.multivariate import domain_classifier
from riskops.spec import ModelSpec
from tests.unit.monitoring.synthetic import population, small_spec


@pytest.fixture
def spec() -> ModelSpec:
    return small_spec()


def test_no_shift_interval_covers_one_half(spec: ModelSpec) -> None:
    result = domain_classifier(population(4000, 3), population(4000, 4), spec, rounds=50)
    assert result.low <= 0.5 <= result.high
    assert result.high - result.low < 0.1  # the interval is informative, not [0, 1]
    assert result.held_out_rows == 2400
    assert not result.subsampled


def test_shift_in_one_feature_ranks_it_first(spec: ModelSpec) -> None:
    result = domain_classifier(
        population(4000, 1), population(4000, 2, income_shift=40.0), spec, rounds=50
    )
    assert result.low > 0.55
    assert result.top[0].feature == "income"
    assert result.top[0].gain_share > 2 * result.top[1].gain_share
    assert sum(i.gain_share for i in result.importances) == pytest.approx(1.0)


def test_categorical_shift_and_missing_values_are_handled(spec: ModelSpec) -> None:
    reference = population(3000, 3)
    current = population(3000, 4)
    rng = np.random.default_rng(5)
    current["housing"] = rng.choice(
        np.array(["own", "rent", "castle", None], dtype=object), 3000, p=[0.3, 0.3, 0.2, 0.2]
    )
    current["age"][:500] = np.nan
    result = domain_classifier(reference, current, spec, rounds=50)
    assert result.top[0].feature == "housing"
    assert result.auc > 0.6


def test_large_inputs_are_subsampled_with_a_fixed_seed(spec: ModelSpec) -> None:
    reference, current = population(3000, 6), population(2000, 7)
    first = domain_classifier(reference, current, spec, max_rows=1000, rounds=20)
    again = domain_classifier(reference, current, spec, max_rows=1000, rounds=20)
    assert first.subsampled
    assert (first.used_reference_rows, first.used_current_rows) == (1000, 1000)
    assert (first.reference_rows, first.current_rows) == (3000, 2000)
    assert first == again


def test_too_few_rows_are_refused(spec: ModelSpec) -> None:
    with pytest.raises(ValueError, match="at least 10 rows on each side"):
        domain_classifier(population(5, 1), population(100, 2), spec)
