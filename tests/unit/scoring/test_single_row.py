"""LightGBM's single-row C API gives the same numbers as Booster.predict."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from riskops.scoring.scorer import Scorer
from riskops.scoring.single_row import SingleRowPredictor
from tests.unit.conftest import German

DIGEST = "sha256:" + "ab" * 32


def test_scores_and_contributions_equal_booster_predict_bit_for_bit(
    german: German, booster: lgb.Booster
) -> None:
    score = SingleRowPredictor.create(booster, "normal")
    contributions = SingleRowPredictor.create(booster, "contrib")
    assert score is not None
    assert contributions is not None
    rng = np.random.default_rng(7)
    noisy = german.matrix + rng.normal(0.0, 0.5, size=german.matrix.shape)
    noisy[::7, 3] = np.nan  # the missing-value path of the trees
    for matrix in (german.matrix, noisy):
        expected = booster.predict(matrix, num_threads=1)
        expected_phi = booster.predict(matrix, pred_contrib=True, num_threads=1)
        for i in range(len(matrix)):
            assert score(matrix[i])[0] == expected[i]
            assert np.array_equal(contributions(matrix[i : i + 1]), expected_phi[i])


def test_a_row_of_the_wrong_width_is_an_error(booster: lgb.Booster) -> None:
    score = SingleRowPredictor.create(booster, "normal")
    assert score is not None
    with pytest.raises(ValueError, match="could not broadcast"):
        score(np.zeros(score.width + 1))


class CountingBooster(lgb.Booster):
    """A booster whose predict does more than LightGBM's (here: counts its calls)."""

    calls = 0

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        return super().predict(*args, **kwargs)


def test_a_booster_that_overrides_predict_keeps_its_predict(
    german: German, booster: lgb.Booster
) -> None:
    counting = CountingBooster(model_str=booster.model_to_string())
    assert SingleRowPredictor.create(counting, "normal") is None
    scorer = Scorer(german.spec, counting, version=1, digest=DIGEST)
    before = CountingBooster.calls
    decision = scorer.decide(german.requests[0])
    assert CountingBooster.calls > before
    assert decision.score == booster.predict(german.matrix[:1])[0]


def test_the_scorer_decides_the_same_with_either_path(german: German, booster: lgb.Booster) -> None:
    fast = Scorer(german.spec, booster, version=1, digest=DIGEST)
    general = Scorer(
        german.spec,
        CountingBooster(model_str=booster.model_to_string()),
        version=1,
        digest=DIGEST,
    )
    for features in german.requests[:200]:
        a, b = fast.decide(features, explain=True), general.decide(features, explain=True)
        assert (a.score, a.decision, a.reasons) == (b.score, b.decision, b.reasons)
