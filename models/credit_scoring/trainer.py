"""The credit-scoring model's training code, as a data scientist hands it over.

riskops calls ``fit(X, y, params)``: ``X`` is a DataFrame in the spec's feature order where
categorical features have the ``category`` dtype with the spec's categories; ``y`` is 1 for the
event (a bad loan) and 0 otherwise. The returned model must score a float matrix of the same
columns with each category replaced by its position in the spec's list (what
``riskops.datasets.encoding.encode_frame`` produces), so serving needs no pandas.

``fit_lightgbm`` takes one param of its own besides LightGBM's: ``monotone``, a mapping of
numeric feature names to ``1`` (the score may only rise as the feature grows) or ``-1`` (only
fall). It becomes LightGBM's ``monotone_constraints`` list in ``X``'s column order, 0 for every
feature not named. Keep it equal to the ``monotone`` declarations of the spec's features, which
the monotonicity gate checks::

    params:
      monotone: {duration_in_month: 1}   # spec: {name: duration_in_month, monotone: increasing}
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from riskops.datasets.encoding import encode_frame


def _categorical_positions(X: pd.DataFrame) -> list[int]:
    return [i for i, dtype in enumerate(X.dtypes) if isinstance(dtype, pd.CategoricalDtype)]


def monotone_constraints(X: pd.DataFrame, monotone: dict[str, int]) -> list[int]:
    """LightGBM's ``monotone_constraints`` for ``X``'s columns from ``{feature: 1 | -1}``."""
    unknown = sorted(set(monotone) - set(X.columns))
    if unknown:
        raise ValueError(
            f"monotone names {', '.join(unknown)}, which are not features; "
            f"the features are: {', '.join(X.columns)}"
        )
    for name, direction in monotone.items():
        if direction not in (1, -1):
            raise ValueError(
                f"monotone.{name} is {direction!r}; use 1 (score rises with it) or -1 (falls)"
            )
        if isinstance(X[name].dtype, pd.CategoricalDtype):
            raise ValueError(f"monotone.{name}: a categorical feature cannot be monotone")
    return [int(monotone.get(name, 0)) for name in X.columns]


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    """Gradient-boosted trees on the category codes (LightGBM's native categorical splits),
    held to the ``monotone`` directions given in ``params`` (see the module docstring)."""
    params = dict(params)
    monotone = params.pop("monotone", None)
    if monotone:
        if "monotone_constraints" in params:
            raise ValueError("give either monotone or monotone_constraints, not both")
        params["monotone_constraints"] = monotone_constraints(X, dict(monotone))
    matrix = encode_frame(X)
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, **params)
    model.fit(
        matrix,
        y,
        feature_name=list(X.columns),
        categorical_feature=_categorical_positions(X),
    )
    return model.booster_


def fit_scorecard(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> Pipeline:
    """A logistic-regression scorecard: one-hot categories, standardised numbers."""
    categorical = _categorical_positions(X)
    numeric = [i for i in range(X.shape[1]) if i not in categorical]
    prepare = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            (
                "numbers",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                numeric,
            ),
        ]
    )
    model = Pipeline([("prepare", prepare), ("logit", LogisticRegression(max_iter=1000, **params))])
    model.fit(encode_frame(X), y)
    return model
