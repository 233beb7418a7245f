"""ModelSpec: one YAML file per model that says what it is for, what data it takes, how it is
trained, how its score becomes a decision and which gates it must pass.

Example (abridged; the full one is ``models/credit_scoring/model.yaml``)::

    name: credit-scoring
    intended_use: Probability of default for consumer instalment loans.
    risk_tier: high
    owner: credit-risk-analytics
    data:
      source: ../../data/german_credit/german_credit.csv
      label: {column: creditability, positive: bad, negative: good}
      split: {method: stratified, test_size: 0.3, seed: 7}
    features:
      - {name: duration_in_month, type: numeric, min: 1, max: 120,
         reason: Long loan duration}
    trainer: {entrypoint: "trainer.py:fit_lightgbm", params: {n_estimators: 200}}
    policy: {approve_below: 0.2, decline_from: 0.5}
    gates:
      performance: {min_auc: 0.7}

:func:`load_spec` raises :class:`~riskops.errors.SpecError` naming every bad field and its fix.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from riskops.errors import Problem, SpecError

NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    column: str
    positive: str | int = Field(
        description="The value of the event the score predicts (e.g. default)."
    )
    negative: str | int


class Split(_Strict):
    """The train/validation(/test) split. ``time`` holds out the latest ``test_size`` share
    of rows by ``time_column`` (or ``history.time_column``): validation is out of time.

    ``holdout_size`` keeps a further share of rows as a test partition, scored once per
    version for the reported figures (with ``time``: the latest rows, after validation)."""

    method: Literal["stratified", "random", "time"] = "stratified"
    test_size: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.3
    seed: int = 0
    holdout_size: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        default=None,
        description=(
            "Share of all rows kept as the test partition, scored once per version for the "
            "reported figures; None: the figures come from the validation split."
        ),
    )
    time_column: str | None = Field(
        default=None,
        description="method time: the column that orders rows (default: history.time_column).",
    )

    @model_validator(mode="after")
    def _time_column(self) -> Split:
        if self.time_column is not None and self.method != "time":
            raise ValueError(
                f"time_column applies to method: time only (method is {self.method!r})"
            )
        if self.holdout_size is not None and self.test_size + self.holdout_size >= 1.0:
            raise ValueError(
                f"test_size {self.test_size} and holdout_size {self.holdout_size} leave no "
                "training rows; together they must stay below 1"
            )
        return self


class DataSpec(_Strict):
    source: str = Field(description="CSV path, relative to the spec file or absolute.")
    out_of_time: str | None = Field(
        default=None,
        description="Optional CSV of later applications, same columns, for out-of-time tests.",
    )
    format: Literal["csv"] = "csv"
    subject_key: str | None = Field(
        default=None,
        description="Column that identifies the data subject; None when the data has none.",
    )
    label: Label
    protected_attributes: tuple[str, ...] = ()
    split: Split = Split()
    population_prevalence: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        default=None,
        description=(
            "The event rate of the population the model serves, when the data was sampled at "
            "another rate (e.g. every fraud kept, legitimate rows subsampled). Every rate that "
            "depends on prevalence is then computed with case weights that restore it."
        ),
    )


CategoryKind = Literal["text", "integer", "boolean"]
CategoryCode = str | int | bool


def category_text(value: CategoryCode) -> str:
    """The one text form of a category: the value itself for text, ``str()`` of an integer
    (``2`` → ``"2"``) or a boolean (``True``/``False``), as ``data.label.positive`` is read.

    Training data (CSV) is matched by this text; a request may send the code itself.

    >>> category_text(2), category_text(True), category_text("own")
    ('2', 'True', 'own')
    """
    return value if isinstance(value, str) else str(value)


def _kind_of(value: object) -> CategoryKind:
    if isinstance(value, bool):
        return "boolean"
    return "integer" if isinstance(value, int) else "text"


class Feature(_Strict):
    """One input of the model. A categorical feature lists its ``categories`` as text, or as
    integer (``1, 2, 3``) or boolean codes; codes are held as their text
    (:func:`category_text`) and :attr:`category_kind` remembers which they were."""

    name: Annotated[str, Field(min_length=1)]
    type: Literal["numeric", "categorical"]
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    _category_kind: CategoryKind = PrivateAttr(default="text")
    allow_missing: bool = False
    monotone: Literal["increasing", "decreasing"] | None = Field(
        default=None,
        description="Declared direction of the risk as this feature grows (numeric only).",
    )
    reason: Annotated[str, Field(min_length=3)] = Field(
        description="Human-readable reason text shown when this feature drives an adverse decision."
    )

    @field_validator("categories", mode="before")
    @classmethod
    def _codes_as_text(cls, raw: Any) -> Any:
        if not isinstance(raw, (list, tuple)):
            return raw
        kinds = {_kind_of(v) for v in raw if isinstance(v, (str, int))}
        if len(kinds) > 1:
            raise ValueError(
                "'categories' mixes "
                + " and ".join(sorted(kinds))
                + " values; list them all as integer codes (1, 2), all as booleans, or all "
                "as quoted text ('1', 'own'). YAML reads unquoted yes/no/on/off as booleans"
            )
        return tuple(category_text(v) if isinstance(v, (str, int)) else v for v in raw)

    @field_serializer("categories")
    def _codes_as_written(self, categories: tuple[str, ...] | None) -> list[CategoryCode] | None:
        return None if categories is None else list(self.category_codes)

    @property
    def category_kind(self) -> CategoryKind:
        """``text``, or ``integer``/``boolean`` when the spec lists the categories as codes."""
        return self._category_kind

    @property
    def category_codes(self) -> tuple[CategoryCode, ...]:
        """The categories as the spec wrote them: ``(1, 2, 3)`` for integer codes."""
        texts = self.categories or ()
        if self._category_kind == "integer":
            return tuple(int(t) for t in texts)
        if self._category_kind == "boolean":
            return tuple(t == "True" for t in texts)
        return texts

    @model_validator(mode="wrap")
    @classmethod
    def _remember_kind(cls, raw: Any, handler: ModelWrapValidatorHandler[Feature]) -> Feature:
        feature = handler(raw)
        if isinstance(raw, dict) and isinstance(raw.get("categories"), (list, tuple)):
            kinds = {_kind_of(v) for v in raw["categories"]}
            if len(kinds) == 1:
                feature._category_kind = kinds.pop()
        return feature

    @model_validator(mode="after")
    def _check_kind(self) -> Feature:
        if self.type == "categorical":
            if not self.categories:
                raise ValueError(
                    "a categorical feature needs 'categories': the list of allowed values"
                )
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("'categories' lists a value twice")
            if self.min is not None or self.max is not None:
                raise ValueError("'min'/'max' apply to numeric features only")
            if self.monotone is not None:
                raise ValueError("'monotone' applies to numeric features only")
        else:
            if self.categories is not None:
                raise ValueError("'categories' applies to categorical features only")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self


Entity = Literal["customer", "terminal"]


class HistoryFeature(_Strict):
    """One history feature: an aggregate of an entity's earlier transactions over a window.

    ``count``, ``sum`` and ``mean`` of the amount over ``[t - window, t)``; ``fraud_rate``: the
    share of frauds among the entity's transactions in ``[t - delay - window, t - delay)``
    (``delay`` is ``history.label_delay_days``). See docs/history-features.md.
    """

    name: Annotated[str, Field(min_length=1)]
    entity: Entity
    aggregate: Literal["count", "sum", "mean", "fraud_rate"]
    window_days: Annotated[int, Field(ge=1, le=365)]


class History(_Strict):
    """Transaction-history features, computed from the same definitions offline (training)
    and online (serving). Each feature must also be listed in ``features`` as numeric."""

    event_id: Annotated[str, Field(min_length=1)] = Field(
        description="Column of the transaction id (labels are recorded against it)."
    )
    time_column: Annotated[str, Field(min_length=1)]
    amount_column: Annotated[str, Field(min_length=1)]
    amount_decimals: Annotated[int, Field(ge=0, le=6)] = Field(
        default=2, description="Amounts are summed exactly in units of 10^-decimals."
    )
    entities: Annotated[dict[Entity, Annotated[str, Field(min_length=1)]], Field(min_length=1)] = (
        Field(description="Entity → its key column, e.g. {customer: CUSTOMER_ID}.")
    )
    label_delay_days: Annotated[int, Field(ge=0, le=365)] = 7
    features: Annotated[tuple[HistoryFeature, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> History:
        names = [f.name for f in self.features]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"history features are listed twice: {', '.join(twice)}")
        for feature in self.features:
            if feature.entity not in self.entities:
                raise ValueError(
                    f"history feature {feature.name!r} is over the {feature.entity} entity, "
                    f"which history.entities does not name; add "
                    f"'{feature.entity}: <key column>' to history.entities"
                )
        columns = [self.event_id, self.time_column, *self.entities.values()]
        shared = sorted({c for c in columns if columns.count(c) > 1})
        if shared:
            raise ValueError(
                f"event_id, time_column and the entity key columns must differ; "
                f"{', '.join(shared)} is used twice"
            )
        if self.amount_column in columns:
            raise ValueError(
                f"amount_column {self.amount_column!r} is also the id, time or an entity column"
            )
        return self

    @property
    def horizon_days(self) -> int:
        """How far back any feature looks: the largest window (plus the delay for rates)."""
        return max(
            f.window_days + (self.label_delay_days if f.aggregate == "fraud_rate" else 0)
            for f in self.features
        )


class Trainer(_Strict):
    entrypoint: str = Field(
        pattern=r"^[\w./-]+(\.py)?:[A-Za-z_]\w*$",
        description="'file.py:function' relative to the spec, or 'package.module:function'.",
    )
    params: dict[str, Any] = Field(default_factory=dict)
    params_source: Annotated[str, Field(min_length=3)] | None = Field(
        default=None,
        description="Where the params came from (a search, a rule, a reference), for the "
        "validation report; unset, the report says the provider has not stated it.",
    )


Kind = Literal["credit", "fraud", "transaction_risk"]
"""The model family. It sets the policy's default outcome names and the gates a spec gets when
it does not list them (see :data:`KIND_OUTCOMES` and ``riskops.validation``)."""


class Outcomes(_Strict):
    """The names of the policy's three outcomes, by role: ``favourable`` (approve, allow),
    ``review`` (a person decides) and ``adverse`` (decline, block). Reasons are stated for every
    outcome but the favourable one; the review outcome is the safe one when the model cannot
    answer."""

    favourable: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    review: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    adverse: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

    @model_validator(mode="after")
    def _distinct(self) -> Outcomes:
        names = [self.favourable, self.review, self.adverse]
        if len(set(names)) != 3:
            raise ValueError(f"the three outcomes must have different names, got {names}")
        return self

    @property
    def names(self) -> tuple[str, str, str]:
        """Favourable, review, adverse: the order of the outcome codes 0, 1, 2."""
        return (self.favourable, self.review, self.adverse)


KIND_OUTCOMES: dict[str, Outcomes] = {
    "credit": Outcomes(favourable="approve", review="refer", adverse="decline"),
    "fraud": Outcomes(favourable="allow", review="review", adverse="block"),
    "transaction_risk": Outcomes(favourable="allow", review="review", adverse="block"),
}


class Costs(_Strict):
    """What each kind of error costs, in one currency per case: letting an event through
    (``missed_event``: a missed fraud, a loss given default), acting on a case that was not one
    (``false_alarm``: a blocked good customer, a declined good applicant), and a person's review
    (``review``; omit it when the policy has no review band)."""

    missed_event: Annotated[float, Field(gt=0.0)]
    false_alarm: Annotated[float, Field(gt=0.0)]
    review: Annotated[float, Field(ge=0.0)] | None = None


class Condition(_Strict):
    """A test on the score or on one feature's value; every bound given must hold. A missing
    value fails every test."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: tuple[str | bool | int, ...] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _some(self) -> Condition:
        bounds = (self.gt, self.gte, self.lt, self.lte)
        if all(b is None for b in bounds) and self.in_ is None:
            raise ValueError("a condition needs at least one of gt, gte, lt, lte or in")
        if self.in_ is not None and any(b is not None for b in bounds):
            raise ValueError("'in' tests a category; do not mix it with gt/gte/lt/lte")
        return self


class Rule(_Strict):
    """``if`` every condition holds, the outcome is ``then``. ``if`` maps ``score`` or a
    feature's name to its condition. ``reason`` is stated first when the rule gives a
    non-favourable outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: Annotated[dict[str, Condition], Field(alias="if", min_length=1)]
    then: str
    reason: Annotated[str, Field(min_length=3)] | None = None


class Policy(_Strict):
    """How a score becomes an outcome; ``type`` is one of:

    - ``cutoffs``: below ``approve_below`` the favourable outcome, from ``decline_from`` the
      adverse one, between them review;
    - ``expected_cost``: the outcome of least expected cost under ``costs`` for a calibrated
      score p (favourable costs p·missed_event, review costs review, adverse costs
      (1 − p)·false_alarm); it comes down to two cut-offs, computed here;
    - ``rules``: ordered ``rules`` on the score and the features; the first that holds decides,
      ``otherwise`` when none does.

    ``outcomes`` names the three outcomes; by default the spec's kind names them.
    """

    type: Literal["cutoffs", "expected_cost", "rules"] = "cutoffs"
    approve_below: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    decline_from: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    costs: Costs | None = None
    rules: tuple[Rule, ...] = ()
    otherwise: str | None = None
    outcomes: Outcomes | None = None

    @model_validator(mode="after")
    def _by_type(self) -> Policy:
        if self.type == "cutoffs":
            if self.approve_below is None or self.decline_from is None:
                raise ValueError(
                    "a cutoffs policy needs approve_below and decline_from, e.g. "
                    "{approve_below: 0.25, decline_from: 0.6}"
                )
            if self.approve_below > self.decline_from:
                raise ValueError(
                    f"approve_below ({self.approve_below}) must not exceed decline_from "
                    f"({self.decline_from}); scores between them are referred to a person"
                )
            self._only("cutoffs", costs=self.costs, rules=self.rules, otherwise=self.otherwise)
        elif self.type == "expected_cost":
            if self.costs is None:
                raise ValueError(
                    "an expected_cost policy needs costs, e.g. "
                    "{missed_event: 120, false_alarm: 8, review: 2}"
                )
            self._only("expected_cost", rules=self.rules, otherwise=self.otherwise)
            low, high = expected_cost_cutoffs(self.costs)
            given = (self.approve_below, self.decline_from)
            if any(
                g is not None and abs(g - c) > 1e-9 for g, c in zip(given, (low, high), strict=True)
            ):
                raise ValueError(
                    f"an expected_cost policy computes its cut-offs from costs ({low:.6g}, "
                    f"{high:.6g}); remove approve_below and decline_from"
                )
            object.__setattr__(self, "approve_below", low)
            object.__setattr__(self, "decline_from", high)
        else:
            if not self.rules or self.otherwise is None:
                raise ValueError(
                    "a rules policy needs rules (a list of {if: {...}, then: OUTCOME}) and "
                    "otherwise (the outcome when no rule holds)"
                )
            self._only(
                "rules",
                approve_below=self.approve_below,
                decline_from=self.decline_from,
                costs=self.costs,
            )
        return self

    @staticmethod
    def _only(kind: str, **others: object) -> None:
        given = sorted(k for k, v in others.items() if v is not None and v != ())
        if given:
            raise ValueError(f"a {kind} policy does not take {', '.join(given)}; remove it")

    def score_cutoffs(self) -> tuple[float, float] | None:
        """(favourable below, adverse from) when the outcome depends on the score alone
        through two cut-offs (cutoffs and expected_cost policies), else None."""
        if self.approve_below is None or self.decline_from is None:
            return None
        return (self.approve_below, self.decline_from)


def expected_cost_cutoffs(costs: Costs) -> tuple[float, float]:
    """The two cut-offs of least expected cost for a calibrated score p.

    Favourable costs p·m, review r, adverse (1 − p)·f (m = missed_event, f = false_alarm,
    r = review). Review is cheapest between r/m and 1 − r/f when that band is not empty;
    otherwise (no review cost given, or review dearer than the cheaper error there) the one
    cut-off is where p·m = (1 − p)·f, p = f / (m + f). Ties go to the cheaper side's lower
    bound: below the first cut-off favourable, from the second adverse.
    """
    m, f = costs.missed_event, costs.false_alarm
    if costs.review is not None:
        low, high = costs.review / m, 1.0 - costs.review / f
        if low < high:
            return (min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0))
    single = f / (m + f)
    return (single, single)


Severity = Literal["blocking", "advisory"]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class PerformanceGate(_Strict):
    """Discrimination and accuracy minimums on held-out data, with bootstrap intervals."""

    min_auc: Probability | None = 0.7
    min_ks: Probability | None = None
    min_gini: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    min_pr_auc: Probability | None = None
    max_brier: Probability | None = None
    max_log_loss: NonNegative | None = None
    bootstrap_resamples: Annotated[int, Field(ge=0, le=10_000)] = 200
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    severity: Severity = "blocking"
    max_auc_gap: Probability | None = Field(
        default=None,
        description="Largest train AUC minus held-out AUC; unset, the gap is only reported. "
        "Always advisory: the held-out figure is the one the other checks judge.",
    )


class BenchmarkGate(_Strict):
    """A logistic regression fitted on the candidate's training rows, compared on the held-out
    rows; ``min_auc_lift`` (candidate AUC minus the benchmark's) is judged only when set."""

    min_auc_lift: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    bootstrap_resamples: Annotated[int, Field(ge=0, le=10_000)] = 200
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    severity: Severity = "advisory"


class CalibrationGate(_Strict):
    """Do predicted probabilities match observed rates?"""

    max_ece: Probability | None = 0.1
    slope_range: tuple[float, float] | None = (0.7, 1.3)
    max_abs_intercept: NonNegative | None = None
    min_hosmer_lemeshow_p: Probability | None = None
    bins: Annotated[int, Field(ge=2, le=100)] = 10
    severity: Severity = "advisory"


class StabilityGate(_Strict):
    """Population stability of the score (PSI) and of each feature (CSI)."""

    max_score_psi: NonNegative | None = 0.25
    max_feature_csi: NonNegative | None = 0.25
    bins: Annotated[int, Field(ge=2, le=100)] = 10
    severity: Severity = "advisory"


class ChampionGate(_Strict):
    """Non-inferiority against the production version on the same rows."""

    max_auc_drop: Probability = 0.02
    method: Literal["paired_bootstrap", "delong"] = "delong"
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    bootstrap_resamples: Annotated[int, Field(ge=1, le=10_000)] = 1000
    severity: Severity = "blocking"


class FairnessGate(_Strict):
    """Outcomes across the spec's protected attributes, under the policy's cut-offs.

    ``bands`` cut a numeric attribute into groups at the given edges (``age_in_years: [25]``
    gives ``< 25`` and ``>= 25``); ``groups`` map raw values of a categorical attribute to
    named groups (values not listed keep their own name).
    """

    min_approval_rate_ratio: Probability | None = 0.8
    max_equal_opportunity_difference: Probability | None = 0.1
    max_calibration_difference: Probability | None = None
    bands: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    groups: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)
    min_group_size: Annotated[int, Field(ge=1)] = 30
    # Stratified bootstrap intervals of every group number and comparison (0: none).
    bootstrap_resamples: Annotated[int, Field(ge=0, le=10_000)] = 500
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    severity: Severity = "blocking"

    @model_validator(mode="after")
    def _check_groups(self) -> FairnessGate:
        for attribute, edges in self.bands.items():
            if not edges:
                raise ValueError(f"bands.{attribute} needs at least one edge, e.g. [25]")
            if list(edges) != sorted(set(edges)):
                raise ValueError(f"bands.{attribute} must list distinct edges in increasing order")
        for attribute, mapping in self.groups.items():
            if attribute in self.bands:
                raise ValueError(f"{attribute!r} has both bands and groups; keep one")
            members = [value for values in mapping.values() for value in values]
            twice = sorted({v for v in members if members.count(v) > 1})
            if twice:
                raise ValueError(
                    f"groups.{attribute} puts a value in two groups: {', '.join(twice)}"
                )
        return self


class DataQualityGate(_Strict):
    """Schema, missing values, ranges, unseen categories, duplicates and label leakage."""

    max_missing_rate: Probability = 0.05
    max_out_of_range_rate: Probability = 0.0
    max_unseen_category_rate: Probability = 0.0
    max_duplicate_subject_rate: Probability = 0.0
    max_single_feature_auc: Probability = 0.95
    severity: Severity = "blocking"


class RobustnessGate(_Strict):
    """Score change when numeric inputs move by a small relative amount."""

    relative_perturbation: Annotated[float, Field(gt=0.0, le=1.0)] = 0.01
    max_mean_abs_score_change: Probability = 0.02
    max_abs_score_change: Probability | None = None
    severity: Severity = "advisory"


class MonotonicityGate(_Strict):
    """Declared monotone relations (``monotone`` on a feature) hold across the data's range."""

    grid_points: Annotated[int, Field(ge=3, le=200)] = 20
    sample_rows: Annotated[int, Field(ge=1)] = 200
    tolerance: NonNegative = 1e-9
    severity: Severity = "blocking"


class ExplainabilityGate(_Strict):
    """Global importance is stored; every feature that can be a reason has a text."""

    top_k: Annotated[int, Field(ge=1)] = 10
    dependence_features: Annotated[int, Field(ge=0, le=12)] = 4
    severity: Severity = "blocking"


class DetectionGate(_Strict):
    """What an alerting model (fraud, transaction risk) must do on the held-out rows, under the
    spec's policy and, when ``data.population_prevalence`` is set, at that prevalence.

    An alert is any outcome but the favourable one (review or block). ``min_recall_at_fpr``:
    the share of events caught at the threshold whose false-positive rate is at most
    ``fpr_for_recall``; ``max_alert_rate``: the share of all cases alerted; the expected cost per
    case of the policy's decisions, under ``policy.costs``, must stay below
    ``max_expected_cost_per_1k`` / 1000 and, with ``beat_trivial_policies``, below the cheapest
    of allowing all, reviewing all and blocking all.
    """

    fpr_for_recall: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.01
    min_recall_at_fpr: Probability | None = 0.6
    max_alert_rate: Probability | None = 0.02
    max_expected_cost_per_1k: NonNegative | None = None
    beat_trivial_policies: bool = True
    bootstrap_resamples: Annotated[int, Field(ge=0, le=10_000)] = 200
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    severity: Severity = "blocking"


class Gates(_Strict):
    """The gates' thresholds. A spec that omits a gate, or a field of one, gets its kind's
    default (:data:`KIND_GATES`, then each class's own default); ``detection`` runs only when
    set, as it is by default for fraud and transaction risk."""

    performance: PerformanceGate = PerformanceGate()
    calibration: CalibrationGate = CalibrationGate()
    stability: StabilityGate = StabilityGate()
    champion: ChampionGate = ChampionGate()
    fairness: FairnessGate = FairnessGate()
    data_quality: DataQualityGate = DataQualityGate()
    robustness: RobustnessGate = RobustnessGate()
    monotonicity: MonotonicityGate = MonotonicityGate()
    explainability: ExplainabilityGate = ExplainabilityGate()
    benchmark: BenchmarkGate = BenchmarkGate()
    detection: DetectionGate | None = None
    not_applicable: dict[str, str] = {}
    """Checks that cannot be computed for this model, each with the reason the reports show:
    a gate (``fairness``) or one of its checks (``data_quality.duplicate_subjects``). A check
    that cannot be computed and is not named here fails (it blocks when blocking); a check
    named here that is measured keeps its result."""

    @field_validator("not_applicable")
    @classmethod
    def _known_gates_with_reasons(cls, declared: dict[str, str]) -> dict[str, str]:
        known = [name for name in cls.model_fields if name != "not_applicable"]
        for check, reason in declared.items():
            if check.split(".")[0] not in known:
                raise ValueError(
                    f"gates.not_applicable names '{check}', which is no gate's check; "
                    f"name a gate ({', '.join(known)}) or one of its checks, e.g. "
                    "data_quality.duplicate_subjects"
                )
            if not reason.strip():
                raise ValueError(
                    f"gates.not_applicable.{check} gives no reason; say why the check cannot "
                    "apply to this model (the reports show it)"
                )
        return declared


_ALERTING_GATES: dict[str, dict[str, Any]] = {
    # Events are rare: ranking by AUC alone hides a useless top of the list, so PR-AUC (average
    # precision, a random score gets the prevalence) is required beside it.
    "performance": {"min_auc": 0.85, "min_pr_auc": 0.3},
    # A transaction's own fields can separate fraud strongly (the card data's strongest single
    # feature reaches AUC 0.95); leakage here is a field filled in after the chargeback.
    "data_quality": {"max_single_feature_auc": 0.99},
    # Without protected attributes the gate reports itself not applicable; with them it is
    # advisory, since an alert is reviewed or contested, not a credit refusal.
    "fairness": {"severity": "advisory"},
    "detection": {},
}

KIND_GATES: dict[str, dict[str, dict[str, Any]]] = {
    "credit": {},
    "fraud": _ALERTING_GATES,
    "transaction_risk": _ALERTING_GATES,
}
"""Gate fields each kind gets when its spec does not set them; a field the spec sets wins.
Credit keeps the classes' own defaults. Monotonicity is checked only for features that declare
``monotone``, whatever the kind."""


def with_kind_gates(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` (a spec mapping) with its kind's default gate fields filled in where it has none.

    Example: a fraud spec with ``gates: {performance: {min_auc: 0.9}}`` gets
    ``performance: {min_pr_auc: 0.3, min_auc: 0.9}`` and ``detection: {}`` (all its defaults).
    """
    defaults = KIND_GATES.get(str(raw.get("kind", "credit")))
    gates = raw.get("gates", {})
    if not defaults or not isinstance(gates, dict):
        return raw
    merged: dict[str, Any] = dict(gates)
    for gate, fields in defaults.items():
        given = merged.get(gate, {})
        if isinstance(given, dict):
            merged[gate] = {**fields, **given}
    return {**raw, "gates": merged}


class Thresholds(_Strict):
    """A statistic's warning and critical levels (None: that level is not judged)."""

    warning: NonNegative | None
    critical: NonNegative | None

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        low, high = self.warning, self.critical
        if low is not None and high is not None and low > high:
            raise ValueError(f"warning ({low}) must not exceed critical ({high})")
        return self


class Canary(_Strict):
    """When a challenger (canary or shadow) passes against the champion
    (``riskops monitor canary``), and what is done about it.

    The analysis judges only windows where both versions hold ``min_decisions``. It fails when
    the score's PSI between the two exceeds ``max_score_psi``, the decline rate rose by more
    than ``max_decline_rate_increase`` (each also significant at the 5% level), or the
    challenger's p99 latency exceeds ``max_latency_p99_ratio`` times the champion's.
    ``action``: ``none`` reports only; ``rollback`` ends a failing challenger's lane;
    ``promote`` also deploys a passing challenger in full (only if it may serve: approved, with
    both sign-offs).
    """

    min_decisions: Annotated[int, Field(ge=1)] = 500
    max_score_psi: Annotated[float, Field(gt=0.0)] = 0.1
    max_decline_rate_increase: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    max_latency_p99_ratio: Annotated[float, Field(ge=1.0)] = 1.5
    action: Literal["none", "promote", "rollback"] = "none"


class Monitoring(_Strict):
    """How the deployed model is watched (``riskops monitor run``) and when an alert fires.

    An alert fires only when the statistic is over its threshold, significant after the
    Benjamini–Hochberg procedure at ``fdr_q`` across the run's tests, the window holds at least
    ``min_sample`` decisions, and the breach persisted ``persistence`` consecutive runs.
    """

    segment: str | None = Field(
        default=None,
        description="A categorical feature whose categories split every window (e.g. channel).",
    )
    min_sample: Annotated[int, Field(ge=1)] = 500
    persistence: Annotated[int, Field(ge=1, le=100)] = 2
    fdr_q: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    feature_psi: Thresholds = Thresholds(warning=0.1, critical=0.25)
    score_psi: Thresholds = Thresholds(warning=0.1, critical=0.25)
    decision_rate: Thresholds = Thresholds(warning=0.05, critical=0.10)
    fallback_rate: Thresholds = Thresholds(warning=0.01, critical=0.05)
    missing_rate: Thresholds = Thresholds(warning=0.05, critical=0.20)
    unseen_rate: Thresholds = Thresholds(warning=0.01, critical=0.05)
    out_of_range_rate: Thresholds = Thresholds(warning=0.01, critical=0.05)
    on_critical_prediction_drift: Literal["alert", "rollback"] = Field(
        default="alert",
        description="'rollback': a critical prediction-drift alert rolls the environment back.",
    )
    canary: Canary = Canary()


class ModelSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits and '-'")
    description: str = ""
    intended_use: Annotated[str, Field(min_length=10)]
    out_of_scope_use: str = ""
    kind: Kind = Field(
        default="credit",
        description="credit, fraud or transaction_risk: sets default outcome names and gates.",
    )
    risk_tier: Literal["high", "medium", "low"]
    owner: Annotated[str, Field(min_length=1)]
    credit_institution: bool = Field(
        default=False,
        description="The provider is a credit institution under Union financial services law "
        "(CRD): the Annex IV pack notes the EU AI Act's Arts. 17(4) and 72(4) derogations.",
    )
    data: DataSpec
    features: Annotated[tuple[Feature, ...], Field(min_length=1)]
    trainer: Trainer
    policy: Policy
    gates: Gates = Gates()
    monitoring: Monitoring = Monitoring()
    history: History | None = None
    rationale: dict[str, Annotated[str, Field(min_length=3)]] = Field(
        default_factory=dict,
        description="Why each choice was made, by what it explains: a gate (fairness), a "
        "threshold (calibration.max_ece), the policy, the split, a feature or a dropped one "
        "(features.dropped.age). The documents show each entry next to what it explains.",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_gates(cls, raw: Any) -> Any:
        return with_kind_gates(raw) if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _cross_checks(self) -> ModelSpec:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features are listed twice: {', '.join(duplicates)}")
        if self.data.label.column in names:
            raise ValueError(
                f"the label column {self.data.label.column!r} is also listed as a feature"
            )
        if self.data.label.positive == self.data.label.negative:
            raise ValueError("data.label.positive and data.label.negative must differ")
        fairness = self.gates.fairness
        for attribute in [*fairness.bands, *fairness.groups]:
            if attribute not in self.data.protected_attributes:
                raise ValueError(
                    f"gates.fairness names {attribute!r}, which is not in data.protected_attributes"
                )
        self._check_policy(names)
        detection = self.gates.detection
        if (
            detection is not None
            and detection.max_expected_cost_per_1k is not None
            and self.policy.costs is None
        ):
            raise ValueError(
                "gates.detection.max_expected_cost_per_1k needs the policy's costs: use "
                "policy type expected_cost with costs {missed_event, false_alarm, review}, or "
                "remove the threshold"
            )
        if self.history is not None:
            _check_history(self)
        _check_rationale(self)
        split = self.data.split
        if split.method == "time" and split.time_column is None and self.history is None:
            raise ValueError(
                "data.split.method time needs the column that orders rows: set "
                "data.split.time_column (or declare history.time_column)"
            )
        segment = self.monitoring.segment
        if segment is not None:
            kinds = {f.name: f.type for f in self.features}
            if kinds.get(segment) != "categorical":
                raise ValueError(
                    f"monitoring.segment names {segment!r}, which is not a categorical feature "
                    f"of the spec (categorical: "
                    f"{', '.join(n for n, k in kinds.items() if k == 'categorical') or 'none'})"
                )
        return self

    def _check_policy(self, names: list[str]) -> None:
        outcomes = self.outcomes.names
        policy = self.policy
        used = [rule.then for rule in policy.rules]
        if policy.otherwise is not None:
            used.append(policy.otherwise)
        for i, name in enumerate(used):
            if name not in outcomes:
                where = f"rules[{i}].then" if i < len(policy.rules) else "otherwise"
                raise ValueError(
                    f"policy.{where} is {name!r}, which is not one of the policy's outcomes "
                    f"({', '.join(outcomes)})"
                )
        kinds = {f.name: f for f in self.features}
        for i, rule in enumerate(policy.rules):
            for key, condition in rule.if_.items():
                if key == "score":
                    if condition.in_ is not None:
                        raise ValueError(
                            f"policy.rules[{i}]: the score takes gt/gte/lt/lte, not in"
                        )
                    continue
                feature = kinds.get(key)
                if feature is None:
                    raise ValueError(
                        f"policy.rules[{i}] tests {key!r}, which is neither 'score' nor a "
                        f"feature (features: {', '.join(names)})"
                    )
                if feature.type == "categorical":
                    if condition.in_ is None:
                        raise ValueError(
                            f"policy.rules[{i}].{key} is categorical: test it with in: [...]"
                        )
                    allowed = {str(c) for c in feature.categories or ()}
                    unknown = [v for v in condition.in_ if str(v) not in allowed]
                    if unknown:
                        raise ValueError(
                            f"policy.rules[{i}].{key} lists {unknown}, which are not among its "
                            f"categories"
                        )
                elif condition.in_ is not None:
                    raise ValueError(
                        f"policy.rules[{i}].{key} is numeric: test it with gt/gte/lt/lte"
                    )

    def policy_rows(self) -> list[tuple[str, str]]:
        """The policy as (when, outcome) lines for documents, in the order they apply."""
        names = self.outcomes
        policy = self.policy
        review = f"**{names.review}: a person decides**"
        adverse = f"{names.adverse}, with the principal reasons stated"
        cutoffs = policy.score_cutoffs()
        if cutoffs is not None:
            low, high = (round(c, 6) for c in cutoffs)
            rows = [(f"score below {low}", names.favourable)]
            if low < high:
                rows.append((f"score from {low} to below {high}", review))
            rows.append((f"score {high} and above", adverse))
            if policy.costs is not None:
                c = policy.costs
                rows.append(
                    (
                        "cut-offs of least expected cost",
                        f"missed event {c.missed_event:g}, false alarm {c.false_alarm:g}"
                        + (f", review {c.review:g}" if c.review is not None else "")
                        + " per case",
                    )
                )
            return rows
        label = {names.favourable: names.favourable, names.review: review, names.adverse: adverse}
        rows = []
        for rule in policy.rules:
            tests = []
            for key, cond in rule.if_.items():
                if cond.in_ is not None:
                    tests.append(f"{key} in {list(cond.in_)}")
                for op, sign in (("gt", ">"), ("gte", "≥"), ("lt", "<"), ("lte", "≤")):
                    bound = getattr(cond, op)
                    if bound is not None:
                        tests.append(f"{key} {sign} {bound:g}")
            note = f" ({rule.reason})" if rule.reason else ""
            rows.append((" and ".join(tests), label[rule.then] + note))
        rows.append(("otherwise", label[policy.otherwise or names.favourable]))
        return rows

    @property
    def outcomes(self) -> Outcomes:
        """The policy's outcome names: its own, or the kind's defaults."""
        return self.policy.outcomes or KIND_OUTCOMES[self.kind]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def rationale_of(self, gate: str) -> tuple[tuple[str, str], ...]:
        """The rationale entries that explain the check ``gate`` (``calibration.ece``): its
        family's (``calibration``) and those of its thresholds whose name the check carries
        (``calibration.max_ece``), as (key, text) pairs."""
        family, _, check = gate.partition(".")
        found = []
        for key, text in self.rationale.items():
            head, _, field = key.partition(".")
            if head != family:
                continue
            stem = re.sub(r"^(min|max)_(abs_)?", "", field)
            if not field or stem in check or (check and check in field):
                found.append((key, text))
        return tuple(found)


RATIONALE_SECTIONS = (
    "kind",
    "risk_tier",
    "data",
    "features",
    "trainer",
    "policy",
    "monitoring",
    "split",
    "history",
)
"""Keys of ``rationale`` besides the gates: each alone, or with one of its fields
(``policy.decline_from``); ``features.<feature>``, ``features.dropped.<name>`` for a feature
left out, ``trainer.params.<param>``."""


def rationale_keys(spec: ModelSpec) -> tuple[str, ...]:
    """Every key a rationale entry of ``spec`` may have, but ``features.dropped.<name>``."""
    keys: list[str] = []
    for name, info in Gates.model_fields.items():
        if name == "not_applicable":
            continue
        keys.append(name)
        model = info.annotation
        for candidate in getattr(model, "__args__", (model,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys.extend(f"{name}.{field}" for field in candidate.model_fields)
    sections: dict[str, type[BaseModel]] = {
        "data": DataSpec,
        "trainer": Trainer,
        "policy": Policy,
        "monitoring": Monitoring,
        "split": Split,
        "history": History,
    }
    for section in RATIONALE_SECTIONS:
        keys.append(section)
        if section in sections:
            keys.extend(f"{section}.{field}" for field in sections[section].model_fields)
    keys.extend(f"features.{name}" for name in spec.feature_names)
    keys.extend(f"trainer.params.{param}" for param in spec.trainer.params)
    return tuple(keys)


def _check_rationale(spec: ModelSpec) -> None:
    """Every ``rationale`` key names something the spec has; a misspelt one is refused with
    its nearest keys, so an explanation never silently loses what it explains."""
    known = set(rationale_keys(spec))
    for key in spec.rationale:
        if key in known:
            continue
        if key.startswith("features.dropped.") and len(key) > len("features.dropped."):
            dropped = key[len("features.dropped.") :]
            if dropped in spec.feature_names:
                raise ValueError(
                    f"rationale.{key}: {dropped!r} is a feature of the spec, not a dropped "
                    f"one; explain it under rationale.features.{dropped}"
                )
            continue
        near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
        raise ValueError(
            f"rationale names {key!r}, which is nothing in the spec"
            + (f"; did you mean {' or '.join(map(repr, near))}?" if near else "")
            + " Keys are a gate (fairness) or its threshold (calibration.max_ece), data, split, "
            "policy, trainer, monitoring or one of their fields, features.<feature> and "
            "features.dropped.<name> for a feature left out"
        )


def _check_history(spec: ModelSpec) -> None:
    """The ``history`` section agrees with ``features`` and ``data``."""
    history = spec.history
    assert history is not None
    kinds = {f.name: f.type for f in spec.features}
    for feature in history.features:
        if feature.name not in kinds:
            raise ValueError(
                f"history feature {feature.name!r} is not listed in features; add it there as "
                "{name: ..., type: numeric, min: 0, reason: ...} so that it gets a reason text"
            )
        if kinds[feature.name] != "numeric":
            raise ValueError(f"history feature {feature.name!r} must be a numeric feature")
    request_only = [history.event_id, history.time_column, *history.entities.values()]
    clash = [c for c in request_only if c in kinds]
    if clash:
        raise ValueError(
            f"{', '.join(clash)} identifies the transaction (history id, time or entity "
            "column) and cannot also be a model feature; remove it from features"
        )
    if spec.data.out_of_time is not None:
        raise ValueError(
            "data.out_of_time cannot be used with history: the second file's history features "
            "would miss every earlier transaction; hold out the latest rows instead with "
            "data.split: {method: time}"
        )
    if spec.data.label.column in [*request_only, history.amount_column]:
        raise ValueError(f"the label column {spec.data.label.column!r} cannot be a history column")


class LoadedSpec(BaseModel):
    """A validated spec with where it came from and the digest of its exact text."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: ModelSpec
    path: Path | None
    text: str
    sha256: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def resolve(self, relative: str) -> Path:
        """A path in the spec, taken relative to the spec file's folder."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()


def parse_spec(text: str, *, source: str = "<spec>", path: Path | None = None) -> LoadedSpec:
    """Validate YAML text as a ModelSpec."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            f"{source} is not valid YAML.",
            problems=[Problem(where, str(problem))],
            hint="Fix the YAML syntax at that line (indentation and ':' are the usual suspects).",
        ) from None
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source} must be a YAML mapping of keys such as name, data, features, trainer.",
            hint="See models/credit_scoring/model.yaml for a complete example.",
        )
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            f"{source} is not a valid model spec ({exc.error_count()} problem(s)):",
            problems=[_problem(err, raw) for err in exc.errors()],
            hint="Fix each field named above; docs/model-spec.md lists every key.",
        ) from None
    return LoadedSpec(
        spec=spec, path=path, text=text, sha256=hashlib.sha256(text.encode()).hexdigest()
    )


def load_spec(path: Path | str) -> LoadedSpec:
    """Read and validate the spec at ``path``."""
    spec_path = Path(path).expanduser()
    if spec_path.is_dir():
        spec_path = spec_path / "model.yaml"
    if not spec_path.is_file():
        raise SpecError(
            f"No model spec at {spec_path}.",
            hint="Pass the path of a model.yaml, e.g. models/credit_scoring/model.yaml",
        )
    text = spec_path.read_text(encoding="utf-8")
    return parse_spec(text, source=str(spec_path), path=spec_path.resolve())


def dump_spec(spec: ModelSpec) -> str:
    """YAML text of a spec; ``parse_spec(dump_spec(s)).spec == s``."""
    data = spec.model_dump(mode="json", exclude_defaults=False, by_alias=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _location(loc: tuple[int | str, ...], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and "name" in node:
                    label = f"[{item}] ({node['name']})"
            parts.append(label)
        else:
            if re.match(r"^(function-after|function-before|union|literal|tagged)", item):
                continue
            parts.append(("." if parts else "") + item)
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _problem(err: Any, raw: Any) -> Problem:
    location = _location(tuple(err["loc"]), raw)
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling"
    elif err["type"] == "missing":
        message = "required key is missing; add it"
    elif err["type"] == "string_pattern_mismatch" and location.endswith("name"):
        message = (
            f"{err.get('input')!r} is not a valid model name: use lower-case letters, digits "
            "and '-', 3-64 characters, starting with a letter"
        )
    elif err["type"] == "string_pattern_mismatch" and location.endswith("entrypoint"):
        message = (
            f"{err.get('input')!r} is not an entrypoint: write 'trainer.py:fit' (a file beside "
            "the spec) or 'package.module:fit'"
        )
    return Problem(location, message)
