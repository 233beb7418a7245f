"""Explainability gate: the candidate's global feature importance is recorded as evidence for
the documents, and every feature that can be given as a reason for an adverse decision has a
human-readable reason text (ECOA / Regulation B 12 CFR 1002.9 "specific principal reasons";
GDPR Art. 15 and 22).

Importance over the held-out rows, by flavor:

* ``lightgbm``: TreeSHAP (Lundberg et al., "Consistent Individualized Feature Attribution for
  Tree Ensembles", 2018) via ``Booster.predict(matrix, pred_contrib=True)``; a feature's
  importance is the mean over rows of ``|φ_j(x)|``, in log-odds (the contributions and the
  expected value add up to the raw margin of each row).
* ``sklearn`` with a linear final step (``coef_``, e.g. the scorecard: ColumnTransformer +
  LogisticRegression): each transformed column ``k`` is traced back to the spec feature it
  comes from (by the transformers' ``get_feature_names_out``), and a feature's importance is
  ``Σ_k |β_k · sd(z_k)|`` over its columns, with ``sd`` over the held-out rows, in log-odds
  per standard deviation.
* any other scikit-learn estimator: ``sklearn.inspection.permutation_importance`` with ROC AUC
  scoring (5 repeats, fixed seed); a feature's importance is the mean drop in AUC when its
  column is shuffled.

Results: ``explainability.reason_texts`` (the number of features without a reason of at least
three characters must be 0) and ``explainability.importance_recorded`` (passes; its value is
the number of features with non-zero importance and its evidence holds the ranking).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskops.spec import ModelSpec
from riskops.validation.gate import GateInput, GateResult, threshold_check

KIND = "riskops.gate/explainability@1"
MIN_REASON_LENGTH = 3
PERMUTATION_REPEATS = 5
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class Importance:
    """Global importance of each spec feature, by one method, in the method's unit."""

    method: str
    unit: str
    values: dict[str, float]


def tree_shap_importance(booster: Any, matrix: np.ndarray, names: Sequence[str]) -> Importance:
    """Mean |TreeSHAP contribution| per feature of a LightGBM Booster."""
    contributions = np.asarray(booster.predict(matrix, pred_contrib=True), dtype=np.float64)
    mean_abs = np.abs(contributions[:, : len(names)]).mean(axis=0)
    return Importance(
        method="treeshap",
        unit="mean |SHAP value| in log-odds (LightGBM pred_contrib)",
        values={name: float(v) for name, v in zip(names, mean_abs, strict=True)},
    )


def _owner(column: str, names: Sequence[str]) -> str | None:
    """The spec feature a transformed column comes from: its name, or ``<name>_<suffix>``,
    after any ``<transformer>__`` prefix; the longest matching name wins."""
    candidates = [column, column.split("__", 1)[1]] if "__" in column else [column]
    matches = [
        name for text in candidates for name in names if text == name or text.startswith(f"{name}_")
    ]
    return max(matches, key=len) if matches else None


def _linear_parts(model: Any, names: Sequence[str]) -> tuple[Any, Any, list[str]] | None:
    """(transform or None, linear step, owner feature of each coefficient), or None when the
    model is not linear in columns that can be traced back to the spec's features."""
    steps = getattr(model, "steps", None)
    if steps:
        final = steps[-1][1]
        transform = model[:-1] if len(steps) > 1 else None
    else:
        final, transform = model, None
    coef = getattr(final, "coef_", None)
    if coef is None or np.ndim(coef) > 2 or (np.ndim(coef) == 2 and np.shape(coef)[0] != 1):
        return None
    if transform is None:
        columns = list(names)
    else:
        try:
            columns = [str(c) for c in transform.get_feature_names_out(list(names))]
        except (AttributeError, ValueError, TypeError):
            return None
    owners = [_owner(c, names) for c in columns]
    if len(owners) != np.size(coef) or any(o is None for o in owners):
        return None
    return transform, final, [str(o) for o in owners]


def coefficient_importance(model: Any, matrix: np.ndarray, names: Sequence[str]) -> Importance:
    """``Σ |β_k · sd(z_k)|`` per spec feature of a linear scikit-learn model (see module)."""
    parts = _linear_parts(model, names)
    if parts is None:
        raise ValueError("the model is not linear in columns traceable to the spec's features")
    transform, final, owners = parts
    transformed = transform.transform(matrix) if transform is not None else matrix
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    spread = np.asarray(transformed, dtype=np.float64).std(axis=0)
    weights = np.abs(np.ravel(final.coef_) * spread)
    values = dict.fromkeys(names, 0.0)
    for owner, weight in zip(owners, weights, strict=True):
        values[owner] += float(weight)
    return Importance(
        method="coefficients",
        unit="sum over a feature's model columns of |coefficient x standard deviation|, in log-odds",
        values=values,
    )


def permutation_based_importance(
    model: Any, matrix: np.ndarray, y: np.ndarray, names: Sequence[str]
) -> Importance:
    """Mean drop in ROC AUC when each feature's column is shuffled."""
    from sklearn.inspection import permutation_importance

    found = permutation_importance(
        model,
        matrix,
        y,
        scoring="roc_auc",
        n_repeats=PERMUTATION_REPEATS,
        random_state=PERMUTATION_SEED,
    )
    return Importance(
        method="permutation",
        unit=f"mean drop in ROC AUC over {PERMUTATION_REPEATS} shuffles of the feature",
        values={n: float(v) for n, v in zip(names, found.importances_mean, strict=True)},
    )


def global_importance(data: GateInput) -> Importance:
    """The candidate's importance on the held-out rows, by the method its flavor allows."""
    names = data.spec.feature_names
    sample = data.held_out
    if data.flavor == "lightgbm":
        return tree_shap_importance(data.model, sample.matrix, names)
    if _linear_parts(data.model, names) is not None:
        return coefficient_importance(data.model, sample.matrix, names)
    return permutation_based_importance(data.model, sample.matrix, sample.y, names)


def missing_reasons(spec: ModelSpec) -> list[str]:
    """Features whose reason text is shorter than three characters (blank counts as none)."""
    return [f.name for f in spec.features if len(f.reason.strip()) < MIN_REASON_LENGTH]


class ExplainabilityGate:
    name = "explainability"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.explainability
        missing = missing_reasons(data.spec)
        importance = global_importance(data)
        reasons = {f.name: f.reason for f in data.spec.features}
        ranking = sorted(importance.values.items(), key=lambda item: (-item[1], item[0]))
        evidence: dict[str, Any] = {
            "method": importance.method,
            "unit": importance.unit,
            "importance": [
                {"feature": name, "mean_abs_contribution": value, "reason": reasons[name]}
                for name, value in ranking
            ],
            "top_k": config.top_k,
            "top_features": [name for name, _ in ranking[: config.top_k]],
            "rows": len(data.held_out.y),
            "data": f"{data.held_out.name} rows",
        }
        nonzero = sum(1 for _, value in ranking if value != 0.0)
        return [
            threshold_check(
                gate="explainability.reason_texts",
                kind=KIND,
                metric="features_without_reason",
                value=len(missing),
                threshold=0,
                comparison="<=",
                severity=config.severity,
                evidence={
                    "features": len(data.spec.features),
                    "missing": missing,
                    "note": (
                        "every feature can be a principal reason for an adverse decision, so "
                        f"each needs a reason text of at least {MIN_REASON_LENGTH} characters"
                    ),
                },
            ),
            GateResult(
                gate="explainability.importance_recorded",
                kind=KIND,
                metric="features_with_importance",
                value=float(nonzero),
                threshold=None,
                comparison="n/a",
                severity=config.severity,
                passed=True,
                evidence=evidence,
            ),
        ]
