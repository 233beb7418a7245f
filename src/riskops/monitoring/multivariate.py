"""Multivariate drift: can a classifier tell the current rows from the reference rows?

Per-feature statistics miss a shift in how features move together (the same marginals, a new
correlation). A *domain classifier* catches it (Rabanser, Günnemann & Lipton 2019, "Failing
Loudly", NeurIPS): label reference rows 0 and current rows 1, train a gradient-boosted model
(LightGBM) on part of them and measure its ROC AUC on the rest. With no shift nothing separates
the two samples and the held-out AUC is 0.5 up to noise; the further it rises above 0.5, the
more the populations differ. The features the model splits on most (share of total gain) are
the ones that drive the shift.

The interval is DeLong's (DeLong, DeLong & Clarke-Pearson 1988; :mod:`riskops.statistics.delong`)
on the held-out rows, which the model never saw, so it is an honest interval for this model's
AUC: an interval that covers 0.5 says the classifier found nothing beyond noise.

Large inputs are subsampled with a fixed seed (at most ``max_rows`` from each side) so that the
check takes seconds; the result says how many rows it used. Categorical features are given to
LightGBM as categories (codes in spec order, unseen values one more code, missing as missing).

Example::

    result = domain_classifier(ref_columns, cur_columns, spec)
    result.auc, result.low, result.high, result.top[0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from riskops.spec import ModelSpec
from riskops.statistics.delong import auc_covariance

KIND = "riskops.monitoring/domain-classifier@1"
MAX_ROWS = 20_000
HELD_OUT = 0.3
SEED = 20_240_601


@dataclass(frozen=True)
class FeatureImportance:
    """One feature's share of the classifier's total split gain (shares sum to 1)."""

    feature: str
    gain_share: float


@dataclass(frozen=True)
class DomainClassifierResult:
    """The held-out AUC of reference-vs-current with its DeLong interval, and what drives it."""

    auc: float
    low: float
    high: float
    confidence: float
    reference_rows: int
    current_rows: int
    used_reference_rows: int
    used_current_rows: int
    held_out_rows: int
    seed: int
    importances: tuple[FeatureImportance, ...]
    kind: str = KIND

    @property
    def subsampled(self) -> bool:
        return (self.used_reference_rows, self.used_current_rows) != (
            self.reference_rows,
            self.current_rows,
        )

    @property
    def top(self) -> tuple[FeatureImportance, ...]:
        """Features with any gain, largest first."""
        return tuple(i for i in self.importances if i.gain_share > 0)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["subsampled"] = self.subsampled
        return body


def domain_classifier(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    spec: ModelSpec,
    *,
    max_rows: int = MAX_ROWS,
    held_out: float = HELD_OUT,
    confidence: float = 0.95,
    seed: int = SEED,
    rounds: int = 60,
    threads: int = 2,
) -> DomainClassifierResult:
    """Train reference (0) vs current (1) on ``1 − held_out`` of the rows, AUC on the rest.

    ``reference`` and ``current`` map each spec feature to its column (numeric ``float64``
    with NaN for missing; categorical ``str`` or ``None``), as :func:`read_frame` gives them.
    """
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    ref_n = _rows(reference, spec)
    cur_n = _rows(current, spec)
    if min(ref_n, cur_n) < 10:
        raise ValueError(
            f"the domain classifier needs at least 10 rows on each side (got {ref_n} and {cur_n})"
        )
    ref_take = _sample(ref_n, max_rows, rng)
    cur_take = _sample(cur_n, max_rows, rng)
    matrix = np.vstack([_matrix(reference, spec, ref_take), _matrix(current, spec, cur_take)])
    labels = np.concatenate([np.zeros(len(ref_take)), np.ones(len(cur_take))]).astype(np.int64)

    # A stratified split: the same share of each side is held out.
    test = np.zeros(len(labels), dtype=bool)
    for side in (0, 1):
        where = np.flatnonzero(labels == side)
        test[rng.choice(where, size=max(2, round(held_out * len(where))), replace=False)] = True

    categorical = [i for i, f in enumerate(spec.features) if f.type == "categorical"]
    names = [f"f{i}" for i in range(len(spec.features))]
    train = lgb.Dataset(
        matrix[~test],
        label=labels[~test],
        feature_name=names,
        categorical_feature=categorical,
        free_raw_data=True,
    )
    params = {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": 100,
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
    }
    booster = lgb.train(params, train, num_boost_round=rounds)
    scores = np.asarray(booster.predict(matrix[test]), dtype=np.float64)

    aucs, covariance = auc_covariance(labels[test], [scores])
    auc = float(aucs[0])
    se = math.sqrt(max(float(covariance[0, 0]), 0.0))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = float(gains.sum())
    shares = gains / total if total > 0 else np.zeros_like(gains)
    order = np.argsort(-shares, kind="stable")
    return DomainClassifierResult(
        auc=auc,
        low=max(0.0, auc - z * se),
        high=min(1.0, auc + z * se),
        confidence=confidence,
        reference_rows=ref_n,
        current_rows=cur_n,
        used_reference_rows=len(ref_take),
        used_current_rows=len(cur_take),
        held_out_rows=int(test.sum()),
        seed=seed,
        importances=tuple(
            FeatureImportance(spec.features[i].name, float(shares[i])) for i in order
        ),
    )


def _rows(columns: Mapping[str, np.ndarray], spec: ModelSpec) -> int:
    sizes = {len(columns[f.name]) for f in spec.features}
    if len(sizes) != 1:
        raise ValueError(f"the feature columns differ in length: {sorted(sizes)}")
    return sizes.pop()


def _sample(n: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max_rows, replace=False))


def _matrix(columns: Mapping[str, np.ndarray], spec: ModelSpec, take: np.ndarray) -> np.ndarray:
    """Rows ``take`` as a float matrix: numeric as is, categorical as spec-order codes."""
    out = np.empty((len(take), len(spec.features)), dtype=np.float64)
    for j, feature in enumerate(spec.features):
        values = columns[feature.name][take]
        if feature.type == "numeric":
            out[:, j] = np.asarray(values, dtype=np.float64)
            continue
        codes = {c: float(i) for i, c in enumerate(feature.categories or ())}
        unseen = float(len(codes))
        out[:, j] = [
            math.nan if v is None or v != v else codes.get(str(v), unseen) for v in values.tolist()
        ]
    return out
