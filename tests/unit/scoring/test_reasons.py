from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from riskops.errors import InputError
from riskops.scoring.reasons import (
    LinearContributions,
    Reason,
    ReasonCodes,
    contributions_for,
    tree_contributions,
)
from tests.unit.conftest import German


def test_treeshap_contributions_and_baseline_add_up_to_the_margin(
    german: German, booster: lgb.Booster
) -> None:
    phi = tree_contributions(booster)(german.matrix)
    assert phi.shape == (len(german.matrix), len(german.spec.features) + 1)
    margin = booster.predict(german.matrix, raw_score=True)
    np.testing.assert_allclose(phi.sum(axis=1), margin, rtol=0, atol=1e-9)
    # The baseline is the same for every row: the trees' expected margin.
    assert np.ptp(phi[:, -1]) == 0.0


def test_the_principal_reasons_are_the_largest_adverse_contributions(
    german: German, booster: lgb.Booster
) -> None:
    explain = contributions_for(booster)
    codes = ReasonCodes(german.spec)
    texts = {f.name: f.reason for f in german.spec.features}
    scores = booster.predict(german.matrix)
    worst = np.argsort(-scores)[:50]
    phi = explain(german.matrix[worst])
    for row, contributions in zip(worst.tolist(), phi, strict=True):
        request = german.requests[row]
        reasons = codes.top(contributions, request)
        positive = sorted((c for c in contributions[:-1] if c > 0), reverse=True)
        assert [r.contribution for r in reasons] == positive[:4]
        assert 1 <= len(reasons) <= 4
        for reason in reasons:
            assert reason.text == texts[reason.code]
            assert reason.value == request[reason.code]
            j = german.spec.feature_names.index(reason.code)
            assert reason.contribution == contributions[j]


def test_only_positive_contributions_count_and_ties_keep_the_spec_order(german: German) -> None:
    names = german.spec.feature_names
    phi = np.zeros(len(names) + 1)
    phi[[3, 1, 7]] = 0.5  # a three-way tie
    phi[5] = 0.9
    phi[0] = -2.0
    phi[-1] = 5.0  # the baseline is never a reason
    request = {name: f"value of {name}" for name in names}
    reasons = ReasonCodes(german.spec, k=3).top(phi, request)
    assert [r.code for r in reasons] == [names[5], names[1], names[3]]
    assert reasons[0] == Reason(
        names[5], german.spec.features[5].reason, 0.9, f"value of {names[5]}"
    )
    assert ReasonCodes(german.spec).top(-np.abs(phi), request) == ()
    with pytest.raises(InputError, match="at least 1"):
        ReasonCodes(german.spec, k=0)


@pytest.mark.parametrize("with_reference", [False, True])
def test_scorecard_contributions_add_up_to_its_margin(
    german: German, scorecard: Pipeline, with_reference: bool
) -> None:
    reference = german.matrix[german.prepared.split.train] if with_reference else None
    explain = contributions_for(scorecard, reference=reference)
    assert isinstance(explain, LinearContributions)
    phi = explain(german.matrix)
    assert phi.shape == (len(german.matrix), len(german.spec.features) + 1)
    np.testing.assert_allclose(
        phi.sum(axis=1), scorecard.decision_function(german.matrix), rtol=0, atol=1e-9
    )
    if reference is not None:
        # Centred on the training rows: on average over them each feature contributes nothing.
        np.testing.assert_allclose(explain(reference)[:, :-1].mean(axis=0), 0.0, atol=1e-9)


def test_scorecard_contributions_are_coefficient_times_the_transformed_value(
    german: German, scorecard: Pipeline
) -> None:
    prepare = scorecard.named_steps["prepare"]
    coef = scorecard.named_steps["logit"].coef_[0]
    names = german.spec.feature_names
    phi = contributions_for(scorecard)(german.matrix[:20])

    numbers = prepare.named_transformers_["numbers"]
    numeric = [int(c) for c in prepare.transformers_[1][2]]
    duration = names.index("duration_in_month")
    k = numeric.index(duration)
    scale = numbers.named_steps["scale"]
    z = (german.matrix[:20, duration] - scale.mean_[k]) / scale.scale_[k]
    column = prepare.output_indices_["numbers"].start + k
    np.testing.assert_allclose(phi[:, duration], coef[column] * z, atol=1e-12)

    onehot = prepare.named_transformers_["categories"]
    categorical = [int(c) for c in prepare.transformers_[0][2]]
    purpose = names.index("purpose")
    m = categorical.index(purpose)
    offset = sum(len(c) for c in onehot.categories_[:m])
    for row in range(20):
        code = list(onehot.categories_[m]).index(german.matrix[row, purpose])
        assert phi[row, purpose] == pytest.approx(coef[offset + code], abs=1e-12)


def test_a_bare_linear_classifier_contributes_coefficient_times_value(german: German) -> None:
    matrix = german.matrix / german.matrix.max(axis=0)  # on one scale, so that lbfgs converges
    model = LogisticRegression(max_iter=1000).fit(matrix, german.prepared.y)
    phi = contributions_for(model)(matrix[:5])
    np.testing.assert_allclose(phi[:, :-1], matrix[:5] * model.coef_[0], atol=1e-12)
    np.testing.assert_allclose(phi[:, -1], model.intercept_[0])


def test_models_whose_decisions_cannot_be_explained_are_refused(german: German) -> None:
    tree = DecisionTreeClassifier(max_depth=2).fit(german.matrix, german.prepared.y)
    with pytest.raises(InputError, match="need a binary linear classifier"):
        contributions_for(tree)
    three_classes = np.arange(len(german.matrix)) % 3
    multiclass = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
        lgb.Dataset(german.matrix, three_classes),
        num_boost_round=2,
    )
    with pytest.raises(InputError, match="need a binary LightGBM model"):
        contributions_for(multiclass)
