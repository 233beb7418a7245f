"""Reason codes: the features that pushed a score towards the adverse outcome, with the texts the
spec approved for them.

A model's score is a probability p of the event (a bad loan); its margin is the log-odds
log(p / (1 − p)). A contribution explains the margin additively::

    margin(x) = φ₀ + Σⱼ φⱼ(x)

where φ₀ is the baseline (the last column of a contribution matrix) and φⱼ the part due to
feature j. A positive φⱼ moves the score towards the event. The principal reasons are the
features with the largest positive φⱼ, at most ``k``, in descending order. ``k`` is 4 by default:
12 CFR 1002.9(b)(2) asks for the specific principal reasons of an adverse action, and its
official staff commentary holds that more than four are unlikely to help the applicant.

How φ is computed depends on the model:

- LightGBM Booster: TreeSHAP (Lundberg, Erion & Lee 2018, "Consistent Individualized Feature
  Attribution for Tree Ensembles"), exact for trees, from ``booster.predict(X,
  pred_contrib=True)``; φ₀ is the expected margin over the training data.
- scikit-learn linear classifier (optionally behind a ``ColumnTransformer`` of per-column
  transforms, as ``fit_scorecard`` builds it): for transformed column c with coefficient βc,
  φⱼ = Σ_{c from j} βc · (zc − μc), φ₀ = β₀ + Σc βc · μc. The reference μ is the mean of the
  transformed training rows when they are given (``reference=``); otherwise μ = 0, so a
  standardised number contributes relative to its training mean (the scaler centred it there)
  and a one-hot category contributes its coefficient, the points a scorecard assigns to it.
  μ = 0 is the default because a served artifact does not carry its training rows; once a
  version's reference profile is stored with it, pass that profile's rows to centre the
  categories too. Either way φ₀ + Σⱼ φⱼ is the model's margin.

Example::

    explain = contributions_for(booster)
    reasons = ReasonCodes(spec).top(explain(row)[0], request_features)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskops.errors import InputError
from riskops.registry.flavors import flavor_of
from riskops.spec import ModelSpec

Contributions = Callable[[np.ndarray], np.ndarray]
"""Maps an encoded (m, n) matrix to its (m, n + 1) contributions; the last column is φ₀."""

DEFAULT_REASONS = 4


@dataclass(frozen=True, slots=True)
class Reason:
    """One principal reason: the feature (``code``), its approved ``text``, its contribution to
    the log-odds margin (None for a reason that is not the model's, such as a fallback), and the
    value the request gave for it."""

    code: str
    text: str
    contribution: float | None
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "contribution": self.contribution,
            "value": self.value,
        }


class ReasonCodes:
    """Picks the principal reasons from one row of contributions."""

    def __init__(self, spec: ModelSpec, *, k: int = DEFAULT_REASONS) -> None:
        if k < 1:
            raise InputError(
                f"The number of reasons must be at least 1, got {k}.",
                hint="Regulation B practice is up to four principal reasons; use k=4.",
            )
        self.k = k
        self._names = spec.feature_names
        self._texts = tuple(f.reason for f in spec.features)
        self._width = len(self._names)

    def top(self, contributions: np.ndarray, features: Mapping[str, object]) -> tuple[Reason, ...]:
        """The up to ``k`` features with the largest positive contribution, largest first (ties
        in the spec's order), each with the value ``features`` gave for it."""
        phi = contributions[: self._width].tolist()
        # sorted() is stable, so equal contributions keep the spec's order; on a list of a few
        # dozen floats it is faster than numpy's argsort.
        order = sorted(range(self._width), key=phi.__getitem__, reverse=True)[: self.k]
        reasons = []
        for j in order:
            value = phi[j]
            if not value > 0.0:
                break
            name = self._names[j]
            reasons.append(Reason(name, self._texts[j], value, features.get(name)))
        return tuple(reasons)


def contributions_for(
    model: Any, *, reference: np.ndarray | None = None, num_threads: int = 1
) -> Contributions:
    """The contribution function of ``model``: TreeSHAP for a LightGBM Booster, linear
    contributions for a scikit-learn linear classifier. ``reference`` (encoded training rows)
    sets the linear baseline; TreeSHAP takes its baseline from the trees.

    InputError when the model's adverse decisions could not be explained."""
    if flavor_of(model) == "lightgbm":
        return tree_contributions(model, num_threads=num_threads)
    return LinearContributions(model, reference=reference)


def tree_contributions(booster: Any, *, num_threads: int = 1) -> Contributions:
    """TreeSHAP values of a binary LightGBM Booster (one tree per iteration), computed with
    ``num_threads`` OpenMP threads."""
    if booster.num_model_per_iteration() != 1:
        raise InputError(
            "Reason codes need a binary LightGBM model; this one has "
            f"{booster.num_model_per_iteration()} trees per iteration (multiclass).",
            hint="Train the model with objective 'binary'.",
        )
    predict = booster.predict

    def contributions(matrix: np.ndarray) -> np.ndarray:
        return np.asarray(
            predict(matrix, pred_contrib=True, num_threads=num_threads), dtype=np.float64
        )

    return contributions


class LinearContributions:
    """Contributions of a linear classifier, per original feature (see the module docstring).

    The model is either the classifier itself, fitted on the encoded matrix, or a scikit-learn
    ``Pipeline`` whose steps are one ``ColumnTransformer`` and the classifier. Each transformed
    column is traced back to the one original column it comes from through the transformers'
    ``get_feature_names_out``, which per-column transforms (one-hot, impute, scale) provide.
    """

    def __init__(self, model: Any, *, reference: np.ndarray | None = None) -> None:
        steps = getattr(model, "steps", None)
        classifier = steps[-1][1] if steps else model
        coef = getattr(classifier, "coef_", None)
        intercept = getattr(classifier, "intercept_", None)
        if coef is None or intercept is None or np.shape(coef)[0] != 1:
            raise InputError(
                f"Reason codes for a scikit-learn model need a binary linear classifier "
                f"(coef_ and intercept_); {type(classifier).__name__} has none.",
                hint="Serve a LightGBM Booster, or a Pipeline ending in LogisticRegression.",
            )
        self._prepare: Callable[[np.ndarray], Any] | None = None
        if steps:
            if len(steps) != 2:
                raise InputError(
                    f"Reason codes need Pipeline(ColumnTransformer, classifier); this pipeline "
                    f"has {len(steps)} steps.",
                    hint="Put every transform of the features in one ColumnTransformer.",
                )
            transformer = steps[0][1]
            self._prepare = transformer.transform
            mapping = _column_sources(transformer)
            width = int(transformer.n_features_in_)
        else:
            width = int(np.shape(coef)[1])
            mapping = np.arange(width)
        self._coef = np.asarray(coef, dtype=np.float64)[0]
        if len(mapping) != len(self._coef):
            raise InputError(
                f"The classifier has {len(self._coef)} coefficients but its transformer makes "
                f"{len(mapping)} columns.",
                hint="Serve the pipeline exactly as it was fitted.",
            )
        # sources[c, j] = 1 when transformed column c comes from feature j.
        self._sources = np.zeros((len(mapping), width), dtype=np.float64)
        self._sources[np.arange(len(mapping)), mapping] = 1.0
        self._mean = (
            self._transform(reference).mean(axis=0)
            if reference is not None
            else np.zeros_like(self._coef)
        )
        self._baseline = float(np.asarray(intercept, dtype=np.float64)[0] + self._coef @ self._mean)

    def _transform(self, matrix: np.ndarray) -> np.ndarray:
        out = matrix if self._prepare is None else self._prepare(matrix)
        if hasattr(out, "toarray"):  # a sparse one-hot block
            out = out.toarray()
        return np.asarray(out, dtype=np.float64)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        weighted = (self._transform(matrix) - self._mean) * self._coef
        per_feature = weighted @ self._sources
        baseline = np.full((len(per_feature), 1), self._baseline)
        return np.hstack([per_feature, baseline])


def _column_sources(transformer: Any) -> np.ndarray:
    """For each output column of a fitted ColumnTransformer, the input column it comes from."""
    pieces = getattr(transformer, "transformers_", None)
    slices = getattr(transformer, "output_indices_", None)
    if pieces is None or slices is None:
        raise InputError(
            f"Reason codes need a fitted ColumnTransformer before the classifier, not "
            f"{type(transformer).__name__}.",
            hint="Prepare the features with sklearn.compose.ColumnTransformer.",
        )
    total = max((s.stop for s in slices.values()), default=0)
    sources = np.full(total, -1, dtype=np.int64)
    for name, step, columns in pieces:
        out = slices.get(name, slice(0, 0))
        if step == "drop" or out.stop == out.start:
            continue
        inputs = [int(c) for c in np.arange(transformer.n_features_in_)[columns]]
        tokens = [f"f{c}" for c in inputs]
        if step == "passthrough":
            names = tokens
        else:
            try:
                names = list(step.get_feature_names_out(tokens))
            except (AttributeError, ValueError) as exc:
                raise InputError(
                    f"Reason codes cannot trace the columns of transformer {name!r} "
                    f"({type(step).__name__}) back to the features: {exc}",
                    hint="Use per-column transforms (OneHotEncoder, SimpleImputer, "
                    "StandardScaler) in the ColumnTransformer.",
                ) from exc
        if len(names) != out.stop - out.start:
            raise InputError(
                f"Transformer {name!r} names {len(names)} output columns but produces "
                f"{out.stop - out.start}.",
                hint="Use per-column transforms in the ColumnTransformer.",
            )
        for offset, column in enumerate(names):
            sources[out.start + offset] = _source(str(column), tokens)
    if (sources < 0).any():
        raise InputError(
            "Some columns the classifier sees come from no feature.",
            hint="Use per-column transforms in the ColumnTransformer.",
        )
    return sources


def _source(column: str, tokens: list[str]) -> int:
    """The input column behind an output name: a one-to-one transform keeps the token ('f3'), a
    one-hot column is 'f3_<category>', a missing-value indicator 'missingindicator_f3'."""
    for candidate in (column, column.split("_", 1)[-1]):
        head = candidate.split("_", 1)[0]
        if head in tokens:
            return int(head[1:])
    return -1
