"""The transaction-risk model's training code: LightGBM on numeric features.

riskops calls ``fit(X, y, params)``: ``X`` is a DataFrame in the spec's feature order (here
all numeric: the amount and the history features riskops computed point in time), ``y`` is 1
for a fraud and 0 otherwise. The returned booster scores a float matrix of the same columns.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    """Gradient-boosted trees on ``X``'s numeric columns with LightGBM's ``params``."""
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, **params)
    model.fit(X.to_numpy(dtype=np.float64), y, feature_name=list(X.columns))
    return model.booster_
