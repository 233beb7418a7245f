"""Proxy analysis for the fairness gate: ``fairness.<attribute>.proxy_auc`` (reported).

How much of a protected attribute the model's features carry, on the training rows (the rows
the model learnt from): each feature's bias-corrected Cramér's V with the attribute's groups,
ranked, and the cross-validated AUC of predicting the groups from all features together
(:mod:`riskops.statistics.proxies`). Rows whose attribute is missing, and groups of fewer rows
than there are folds, are left out; beyond ``PROXY_ROWS`` rows a seeded sample is read. The
evidence says whether the attribute is itself a feature. With fewer than two groups to tell
apart, the result is not applicable and says why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskops.spec import ModelSpec, Severity
from riskops.statistics.proxies import FOLDS, combined_auc, feature_proxies
from riskops.validation.gate import GateResult, Sample

PROXY_ROWS = 20_000  # rows read at most: bounds the classifier's time on large data


def _note(attribute: str, is_feature: bool, auc: float, strongest: Any) -> str:
    own = (
        f"{attribute} is itself a model feature"
        if is_feature
        else f"{attribute} is not a model feature"
    )
    note = f"{own}; the features together predict its groups with cross-validated AUC {auc:.3f}"
    if strongest is not None:
        note += (
            f"; the strongest single carrier is {strongest.feature} "
            f"(Cramér's V {strongest.cramers_v:.3f})"
        )
    return note


def proxy_result(
    spec: ModelSpec,
    sample: Sample,
    attribute: str,
    groups: pd.Series,
    *,
    severity: Severity,
    kind: str,
    seed: int,
) -> GateResult:
    """``fairness.<attribute>.proxy_auc`` on ``sample``, whose rows fall in ``groups`` (one
    name per row; missing where the attribute is), recorded with the fairness gate's ``kind``;
    ``seed`` fixes the sample of large data and the folds."""
    labels = groups.to_numpy(dtype=object)
    present = ~pd.isna(labels)
    names, sizes = np.unique(labels[present].astype(str), return_counts=True)
    usable = [str(n) for n, size in zip(names, sizes, strict=True) if size >= FOLDS]
    keep = present & np.isin(labels.astype(str), usable)
    available = int(keep.sum())
    if available > PROXY_ROWS:
        chosen = np.random.default_rng(seed).choice(np.flatnonzero(keep), PROXY_ROWS, replace=False)
        keep = np.zeros_like(keep)
        keep[chosen] = True
    features = sample.features.loc[keep].reset_index(drop=True)
    kept = labels[keep].astype(str)
    is_feature = attribute in {f.name for f in spec.features}
    evidence: dict[str, Any] = {
        "attribute": attribute,
        "attribute_is_feature": is_feature,
        "data": f"{sample.name} rows",
        "rows": int(keep.sum()),
        "rows_available": available,
        "groups": usable,
        "method": (
            "per feature: bias-corrected Cramér's V with the groups (numbers cut at deciles); "
            f"all features: {FOLDS}-fold cross-validated AUC of a logistic regression "
            "predicting the group (0.5: no information, 1: a perfect proxy)"
        ),
    }
    auc = combined_auc(features, kept, folds=FOLDS, seed=seed) if len(usable) >= 2 else None
    if auc is None:
        evidence["status"] = "not_applicable"
        evidence["note"] = (
            f"{attribute} has fewer than two groups of at least {FOLDS} rows in the "
            f"{sample.name} rows, so there is nothing to tell apart"
        )
    else:
        proxies = feature_proxies(features, kept)
        evidence["features"] = [p.as_dict() for p in proxies]
        evidence["note"] = _note(attribute, is_feature, auc, proxies[0] if proxies else None)
    return GateResult(
        gate=f"fairness.{attribute}.proxy_auc",
        kind=kind,
        metric="proxy_auc",
        value=auc,
        threshold=None,
        comparison="n/a",
        severity=severity,
        passed=True,
        evidence=evidence,
    )
