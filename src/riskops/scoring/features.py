"""One subject's features, as a request carries them, checked against the spec and encoded as
the model's float64 row.

The encoding is training's (:mod:`riskops.datasets.encoding`): a numeric feature is its value as
float64, a categorical feature is the position of its value in the spec's ``categories``, and a
missing value is NaN. It is computed here without pandas, from lookup tables compiled once per
spec, so that encoding a request costs a few dictionary lookups.

Every problem with a request is collected, not just the first, and raised as one
:class:`RequestInvalid` whose ``problems`` name each field, so the HTTP layer can answer 422
with all of them:

- a feature that is absent or null, unless the spec sets ``allow_missing: true`` (then NaN);
- a field the spec does not list;
- a value of the wrong type: a numeric feature takes a JSON number (not a boolean, not a string
  holding a number), a categorical feature takes a string, or, when the spec lists integer
  (boolean) codes, the JSON integer (boolean) or its text (``2`` or ``"2"``);
- a number that is not finite, or outside the feature's ``min``/``max``;
- a category outside the spec's list, unless the encoder's ``unknown_category`` policy is
  ``"missing"``, which encodes it as NaN (the model's missing-value path) instead.

What a request costs to check, and the size of the refusal, stay bounded whatever it holds: the
first ``MAX_UNKNOWN_LISTED`` unknown names of a request (of a whole batch) are named, the rest
are counted in one ``(features)`` problem; a "did you mean" is computed for at most
``MAX_SUGGESTIONS`` names or categories, and only for one whose length is within
``SUGGEST_WITHIN`` characters of a name (a category) it could be; a name or value is echoed
shortened to ``MAX_SHOWN`` characters, and a deeply nested or huge value by its outline
(:func:`shown`). The features of 35,000 unknown names are checked in under a millisecond,
with 38 problems (it took 2.7 s and 35,017 problems).

Example::

    encoder = FeatureEncoder(spec)                      # compile once per model version
    row = encoder.encode({"duration_in_month": 24, "purpose": "car (new)", ...})
    row.shape                                           # (1, len(spec.features))
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np

from riskops.errors import ConfigError, Problem, ProblemsError
from riskops.spec import Feature, ModelSpec, category_text

UnknownCategory = Literal["reject", "missing"]
UNKNOWN_CATEGORY_POLICIES: tuple[str, ...] = get_args(UnknownCategory)

# The largest finite float stands in for an absent bound, so that one chained comparison in the
# fast path also turns away infinities (and NaN, which compares false with everything).
_UNBOUNDED = sys.float_info.max
_NUMBER_TYPES = frozenset({int, float})
_ABSENT = object()

MAX_UNKNOWN_LISTED = 20  # unknown names named one by one per request (per batch); the rest counted
MAX_SUGGESTIONS = 5  # "did you mean" suggestions computed per request (per batch)
SUGGEST_WITHIN = 3  # only for a word whose length is this close to a candidate's
MAX_SHOWN = 80  # characters of a client's name or value echoed in a problem

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = MAX_SHOWN
_REPR.maxother = MAX_SHOWN
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def shown(value: object) -> str:
    """``repr(value)`` as a problem echoes it: at most about ``MAX_SHOWN`` characters, and a
    nested or huge value by its outline (``[[[...]]]``) instead of failing."""
    try:
        return _REPR.repr(value)
    except (ValueError, RecursionError):  # an integer of more than 4,300 digits, inside or alone
        return f"<{_kind(value)}>"


def shown_name(name: object) -> str:
    """A field name as a problem's location: the name, cut at ``MAX_SHOWN`` characters."""
    text = name if isinstance(name, str) else shown(name)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


class _Budget:
    """What one request (one batch) may still spend on naming unknown fields and on "did you
    mean" suggestions."""

    __slots__ = ("suggestions", "unknown")

    def __init__(self) -> None:
        self.unknown = MAX_UNKNOWN_LISTED
        self.suggestions = MAX_SUGGESTIONS

    def suggest(self, word: str, candidates: Sequence[str]) -> str:
        """``"; did you mean 'x'?"`` for ``word`` while the budget lasts and a candidate is
        of a plausible length; else the empty string."""
        if self.suggestions <= 0 or not any(
            abs(len(word) - len(c)) <= SUGGEST_WITHIN for c in candidates
        ):
            return ""
        self.suggestions -= 1
        close = difflib.get_close_matches(word, candidates, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""


class RequestInvalid(ProblemsError):
    """A scoring request that does not match the model's spec; ``problems`` names each field."""

    code = "request_invalid"


# A problem with a feature value: its code (see riskops.errors.Problem) and its message.
_Refusal = tuple[str, str]


class FeatureEncoder:
    """Validation and encoding of requests for one spec, compiled once.

    ``unknown_category`` says what a category outside the spec's list does: ``"reject"`` (the
    default) names it as a problem; ``"missing"`` encodes it as NaN, as training encodes a value
    outside the list, even where the feature does not allow missing values, because the
    operator chose that. A value of the wrong type is rejected under either policy.
    """

    def __init__(self, spec: ModelSpec, *, unknown_category: UnknownCategory = "reject") -> None:
        if unknown_category not in UNKNOWN_CATEGORY_POLICIES:
            raise ConfigError(
                f"unknown_category is {unknown_category!r}; valid policies are: "
                f"{', '.join(UNKNOWN_CATEGORY_POLICIES)}.",
                hint="Use 'reject' to refuse an unknown category, or 'missing' to score it as "
                "a missing value.",
            )
        self.model_name = spec.name
        self.unknown_category: UnknownCategory = unknown_category
        self.features: tuple[Feature, ...] = spec.features
        self.feature_names: tuple[str, ...] = spec.feature_names
        self.width = len(spec.features)
        self._positions = {name: i for i, name in enumerate(self.feature_names)}
        self._template = [0.0] * self.width
        self._numeric = tuple(
            (
                i,
                f.name,
                f.min if f.min is not None else -_UNBOUNDED,
                f.max if f.max is not None else _UNBOUNDED,
            )
            for i, f in enumerate(spec.features)
            if f.type == "numeric"
        )
        self._codes: dict[str, dict[str, float]] = {
            f.name: {value: float(code) for code, value in enumerate(f.categories)}
            for f in spec.features
            if f.type == "categorical" and f.categories is not None
        }
        self._categorical = tuple(
            (i, f.name, self._codes[f.name])
            for i, f in enumerate(spec.features)
            if f.type == "categorical" and f.category_kind == "text"
        )
        # Integer or boolean codes are looked up by the JSON value itself, after a type check:
        # True == 1 in Python, so a dict alone would take a boolean for the code 1.
        self._coded: dict[str, tuple[type, dict[object, float]]] = {
            f.name: (
                bool if f.category_kind == "boolean" else int,
                {code: float(i) for i, code in enumerate(f.category_codes)},
            )
            for f in spec.features
            if f.type == "categorical" and f.category_kind != "text"
        }
        self._coded_positions = tuple(
            (i, f.name, *self._coded[f.name])
            for i, f in enumerate(spec.features)
            if f.name in self._coded
        )

    def encode(self, features: Mapping[str, object]) -> np.ndarray:
        """The (1, n) float64 row of one subject's ``features``; RequestInvalid naming every
        bad field otherwise."""
        values = self._fast(features)
        if values is None:
            values, problems = self._checked(features, prefix="", budget=_Budget())
            if problems:
                raise self._invalid(problems)
        return np.array([values], dtype=np.float64)

    def encode_batch(self, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
        """The (m, n) float64 matrix of ``rows``; one RequestInvalid names every bad field of
        every row, located as ``[row].feature``."""
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
            raise self._invalid(
                [
                    Problem(
                        "(batch)", f"expected a list of subjects, got {_kind(rows)}", "wrong_type"
                    )
                ]
            )
        matrix: list[list[float]] = []
        problems: list[Problem] = []
        budget = _Budget()  # one for the whole batch
        for index, features in enumerate(rows):
            values = self._fast(features)
            if values is None:
                values, found = self._checked(features, prefix=f"[{index}].", budget=budget)
                problems.extend(found)
            matrix.append(values)
        if problems:
            raise self._invalid(problems)
        if not matrix:
            return np.empty((0, self.width), dtype=np.float64)
        return np.array(matrix, dtype=np.float64)

    def _fast(self, features: object) -> list[float] | None:
        """The encoded values when ``features`` is complete and valid, else None (the checked
        path then says what is wrong). Kept to plain lookups: this runs on every request."""
        if type(features) is not dict or len(features) != self.width:
            return None
        get: Callable[[str], Any] = features.get
        values = self._template.copy()
        try:
            for i, name, low, high in self._numeric:
                value = get(name)
                if type(value) in _NUMBER_TYPES and low <= value <= high:
                    values[i] = value
                else:
                    return None
            for i, name, codes in self._categorical:
                code = codes.get(get(name))
                if code is None:
                    return None
                values[i] = code
            for i, name, kind, typed in self._coded_positions:
                value = get(name)
                code = typed.get(value) if type(value) is kind else None
                if code is None:
                    return None
                values[i] = code
        except TypeError:  # an unhashable value (a list or an object) where a category goes
            return None
        return values

    def _checked(
        self, features: object, *, prefix: str, budget: _Budget
    ) -> tuple[list[float], list[Problem]]:
        """The encoded values and every problem, feature by feature; unknown names as far as
        ``budget`` lists them, then counted. Its cost does not grow with the number of unknown
        names past the listed ones."""
        if not isinstance(features, Mapping):
            where = prefix.rstrip(".") or "(body)"
            problem = f"expected an object of feature name → value, got {_kind(features)}"
            return [math.nan] * self.width, [Problem(where, problem, "wrong_type")]
        values = [math.nan] * self.width
        problems: list[Problem] = []
        for i, feature in enumerate(self.features):
            value = features.get(feature.name, _ABSENT)
            if feature.type == "numeric":
                encoded, refusal = self._number(feature, value)
            else:
                encoded, refusal = self._category(feature, value, budget)
            if refusal is None:
                values[i] = encoded
            else:
                kind, message = refusal
                problems.append(Problem(prefix + feature.name, message, kind))
        known = sum(1 for name in self.feature_names if name in features)
        unknown = len(features) - known
        if unknown:
            # Only the first few unknown names are looked at: at most `width` known names come
            # before them, so this stops early however many names the request holds.
            listed = 0
            for key in features:
                if listed >= budget.unknown:
                    break
                if key not in self._positions:
                    listed += 1
                    problems.append(
                        Problem(
                            prefix + shown_name(key),
                            self._unknown_field(key, budget),
                            "unknown_field",
                        )
                    )
            budget.unknown -= listed
            if unknown > listed:
                problems.append(
                    Problem(prefix + "(features)", self._unlisted(unknown, listed), "unknown_field")
                )
        return values, problems

    def _unlisted(self, unknown: int, listed: int) -> str:
        if listed:
            return (
                f"and {unknown - listed:,} more names that are not features of "
                f"{self.model_name} (not listed)"
            )
        return f"{unknown:,} names that are not features of {self.model_name} (not listed)"

    def _number(self, feature: Feature, value: object) -> tuple[float, _Refusal | None]:
        if value is _ABSENT or value is None:
            return self._missing(feature)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return math.nan, ("wrong_type", _expected_number(value))
        number: Any = value  # int, float, a numpy number or a Fraction: all compare with float
        if number != number:  # NaN: a missing value, however it was spelled
            return self._missing(feature)
        if number in (math.inf, -math.inf):
            return math.nan, ("invalid", f"must be a finite number, got {number}")
        # Compared before converting, so that a huge integer is reported as out of range.
        if feature.min is not None and number < feature.min:
            return math.nan, (
                "out_of_range",
                f"{shown(number)} is below the allowed minimum {feature.min:g}",
            )
        if feature.max is not None and number > feature.max:
            return math.nan, (
                "out_of_range",
                f"{shown(number)} is above the allowed maximum {feature.max:g}",
            )
        try:
            return float(number), None
        except OverflowError:
            return math.nan, ("invalid", "is too large for a number")

    def _category(
        self, feature: Feature, value: object, budget: _Budget
    ) -> tuple[float, _Refusal | None]:
        if value is _ABSENT or value is None:
            return self._missing(feature)
        sent = value
        coded = self._coded.get(feature.name)
        if coded is not None and type(value) is coded[0]:
            # An integer (boolean) code is matched by its text, as the spec holds it.
            value = category_text(value)  # type: ignore[arg-type]
        if not isinstance(value, str):
            expected = (
                "one of the categories as a string"
                if coded is None
                else f"one of the {feature.category_kind} codes (or its text)"
            )
            return math.nan, (
                "wrong_type",
                f"expected {expected}, got {_kind(value)} ({shown(value)})",
            )
        code = self._codes[feature.name].get(value)
        if code is not None:
            return code, None
        if self.unknown_category == "missing":
            return math.nan, None
        allowed = feature.categories or ()
        suggestion = budget.suggest(value, allowed)
        listed = ", ".join(repr(c) for c in feature.category_codes)
        message = f"{shown(sent)} is not an allowed category ({listed}){suggestion}"
        return math.nan, ("unknown_category", message)

    @staticmethod
    def _missing(feature: Feature) -> tuple[float, _Refusal | None]:
        if feature.allow_missing:
            return math.nan, None
        return math.nan, (
            "missing",
            "is required: send a value (the spec does not allow it to be missing)",
        )

    def _unknown_field(self, key: object, budget: _Budget) -> str:
        suggestion = budget.suggest(key, self.feature_names) if isinstance(key, str) else ""
        return f"is not a feature of {self.model_name}{suggestion}"

    def _invalid(self, problems: Sequence[Problem]) -> RequestInvalid:
        return RequestInvalid(
            f"The request for {self.model_name} has {len(problems)} problem(s):",
            problems=problems,
            hint="Fix each field named above: send every feature of the model's spec once, "
            "numbers as JSON numbers within their min/max, categories as one of the listed "
            "strings.",
        )


def _kind(value: object) -> str:
    """A request value's JSON kind, as the caller wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, numbers.Number):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _expected_number(value: object) -> str:
    if isinstance(value, str):
        try:
            if len(value) > MAX_SHOWN:
                raise ValueError("not tried: no number is written that long")
            float(value)
        except ValueError:
            return f"expected a number, got a string ({shown(value)})"
        return f"expected a number, got the string {value!r}: send it without quotes"
    return f"expected a number, got {_kind(value)} ({shown(value)})"
