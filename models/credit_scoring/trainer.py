"""The credit-scoring model's training code, as a data scientist hands it over.

riskops calls ``fit(X, y, params)``: ``X`` is a DataFrame in the spec's feature order where
categorical features have the ``category`` dtype with the spec's categories; ``y`` is 1 for the
event (a bad loan) and 0 otherwise. The returned model must score a float matrix of the same
columns with each category replaced by its position in the spec's list (what
``riskops.datasets.encoding.encode_frame`` produces), so serving needs no pandas.
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


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    """Gradient-boosted trees on the category codes (LightGBM's native categorical splits)."""
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
