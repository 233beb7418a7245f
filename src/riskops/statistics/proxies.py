"""Proxies: how much of a protected attribute the model's features carry, one by one and
together. Leaving the attribute out of the features does not keep it out of the model when
other features stand in for it.

* **One feature**: the bias-corrected Cramér's V between the feature and the attribute's
  groups (Bergsma 2013, "A bias-correction for Cramér's V and Tschuprow's T", *Journal of the
  Korean Statistical Society* 42:323–328). For an r × k contingency table of n rows with
  chi-square χ², ``φ² = χ²/n``::

      φ²~ = max(0, φ² − (k − 1)(r − 1)/(n − 1))
      r~  = r − (r − 1)²/(n − 1),   k~ = k − (k − 1)²/(n − 1)
      V~  = √(φ²~ / min(k~ − 1, r~ − 1))

  0 for a feature independent of the attribute (the correction removes the chance association
  a table of many cells shows in a small sample), 1 for a feature that determines it. A
  numeric feature is cut at its deciles first (fewer cuts when it has fewer distinct values);
  a missing value is a category of its own.
* **All features together**: the cross-validated AUC of a logistic regression that predicts
  the group from every feature (categories one-hot, numbers standardised, missing numbers
  imputed by the median), from ``folds`` stratified folds; with more than two groups, the mean
  one-vs-rest AUC. 0.5 is no information, 1 a perfect proxy.

Example::

    >>> x = np.array(["a", "b"] * 50)
    >>> round(cramers_v(x, x), 3), round(cramers_v(x, np.array(["u"] * 50 + ["v"] * 50)), 3)
    (1.0, 0.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DECILES = 10
FOLDS = 5


def _codes(values: Sequence[Any] | np.ndarray | pd.Series) -> np.ndarray:
    """Integer codes of any values, missing ones a code of their own."""
    codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64)


def binned(values: pd.Series, bins: int = DECILES) -> np.ndarray:
    """A numeric feature cut at its quantiles (at most ``bins`` bins; missing is a bin)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    if numbers.isna().all():
        return np.full(len(numbers), -1, dtype=np.int64)
    quantiles = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.nanquantile(numbers, quantiles, method="inverted_cdf"))
    cut = np.searchsorted(edges, numbers.to_numpy(), side="right").astype(np.int64)
    return np.where(numbers.isna().to_numpy(), -1, cut)


def cramers_v(x: Sequence[Any] | np.ndarray, y: Sequence[Any] | np.ndarray) -> float:
    """Bias-corrected Cramér's V of two categorical variables (module docstring); 0 when
    either takes a single value."""
    a, b = _codes(x), _codes(y)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"x {a.shape} and y {b.shape} must be 1-D of one length")
    n = len(a)
    r, k = int(a.max(initial=-1)) + 1, int(b.max(initial=-1)) + 1
    if n < 2 or r < 2 or k < 2:
        return 0.0
    table = np.zeros((r, k), dtype=np.float64)
    np.add.at(table, (a, b), 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    phi2 = float(((table - expected) ** 2 / expected).sum()) / n
    phi2_corrected = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corrected - 1, r_corrected - 1)
    if denominator <= 0:
        return 0.0
    return float(min(1.0, np.sqrt(phi2_corrected / denominator)))


@dataclass(frozen=True)
class FeatureProxy:
    feature: str
    cramers_v: float
    measured_as: str  # "categories" or "deciles"

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "cramers_v": self.cramers_v,
            "measured_as": self.measured_as,
        }


def feature_proxies(features: pd.DataFrame, groups: np.ndarray) -> list[FeatureProxy]:
    """Cramér's V of each feature (column) with ``groups``, strongest first."""
    found = []
    for name in features.columns:
        column = features[name]
        categorical = not pd.api.types.is_numeric_dtype(column)
        values = column.astype(object).to_numpy() if categorical else binned(column)
        found.append(
            FeatureProxy(
                str(name), cramers_v(values, groups), "categories" if categorical else "deciles"
            )
        )
    return sorted(found, key=lambda p: (-p.cramers_v, p.feature))


def combined_auc(
    features: pd.DataFrame, groups: np.ndarray, *, folds: int = FOLDS, seed: int = 0
) -> float | None:
    """Cross-validated AUC of predicting ``groups`` from all ``features`` (module docstring);
    None with fewer than two groups or a group of fewer than ``folds`` rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    labels = np.asarray(groups, dtype=object).astype(str)
    names, sizes = np.unique(labels, return_counts=True)
    if len(names) < 2 or sizes.min() < folds or features.shape[1] == 0:
        return None
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
    categorical = [c for c in features.columns if c not in numeric]
    frame = features.copy()
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "missing").astype(str)
    model = make_pipeline(
        ColumnTransformer(
            [
                (
                    "numbers",
                    make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                    numeric,
                ),
                ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A fit stopped at max_iter still ranks rows; the AUC, not the coefficients, is used.
        warnings.simplefilter("ignore", ConvergenceWarning)
        probabilities = cross_val_predict(model, frame, labels, cv=splits, method="predict_proba")
    if len(names) == 2:
        return float(roc_auc_score(labels == names[1], probabilities[:, 1]))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"))
