"""Reading stored gate evidence into what a document shows: curves, bands, groups, importances,
confidence intervals, and a generic table for anything else.

Evidence is a JSON mapping whose keys vary by gate family and may grow, so every reader here is
tolerant: it returns ``None`` when the shape it knows is absent, and the document falls back to
:func:`evidence_tables`, which shows any mapping as key/value rows and any list of mappings as a
table. Nothing is computed here beyond picking values out: every number shown is a stored one.

Example::

    >>> confidence_interval({"ci": {"auc": [0.71, 0.83]}}, "auc")
    Interval(low=0.71, high=0.83, level=None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

_NAME_KEYS = ("feature", "name", "group", "band", "attribute", "label")
_IMPORTANCE_KEYS = (
    "importance",
    "mean_abs_contribution",
    "mean_abs_shap",
    "gain",
    "value",
    "weight",
    "score",
)
_MAX_INLINE = 8  # longer lists are summarised in tables; the raw JSON keeps every value


@dataclass(frozen=True)
class Interval:
    """A confidence interval ``[low, high]``; ``level`` such as 0.95 when the evidence says."""

    low: float
    high: float
    level: float | None = None


@dataclass(frozen=True)
class Curve:
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class Histogram:
    """Counts of events and non-events per score bin; ``edges`` has one more entry."""

    edges: tuple[float, ...]
    events: tuple[float, ...]
    non_events: tuple[float, ...]


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def is_number(value: object) -> TypeGuard[int | float]:
    """True for ints and floats, not bools."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(value: Any) -> tuple[float, ...] | None:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        return None
    if not all(is_number(v) for v in value):
        return None
    return tuple(float(v) for v in value)


def _pair(value: Any) -> tuple[float, float] | None:
    numbers = _numbers(value)
    return (numbers[0], numbers[1]) if numbers is not None and len(numbers) == 2 else None


def _interval(value: Any, level: float | None) -> Interval | None:
    pair = _pair(value)
    if pair is not None:
        return Interval(pair[0], pair[1], level)
    if isinstance(value, Mapping):
        own = value.get("confidence", value.get("level", level))
        own_level = float(own) if is_number(own) else level
        for low_key, high_key in (("low", "high"), ("lower", "upper"), ("lo", "hi")):
            low, high = value.get(low_key), value.get(high_key)
            if is_number(low) and is_number(high):
                return Interval(float(low), float(high), own_level)
    return None


def confidence_interval(evidence: Mapping[str, Any], metric: str) -> Interval | None:
    """The interval stored for ``metric`` under ``ci``: ``[low, high]``, ``{low, high}``, or a
    mapping of metrics to either (with an optional ``confidence`` level beside them)."""
    ci = evidence.get("ci")
    if ci is None:
        return None
    level_value = evidence.get("confidence")
    level = float(level_value) if is_number(level_value) else None
    if isinstance(ci, Mapping):
        shared = ci.get("confidence", ci.get("level"))
        if is_number(shared):
            level = float(shared)
        if metric in ci:
            return _interval(ci[metric], level)
    return _interval(ci, level)


def metric_value(evidence: Mapping[str, Any], metric: str) -> float | None:
    """A metric stored at the top of the evidence or under its ``values``."""
    for source in (evidence, evidence.get("values")):
        if isinstance(source, Mapping) and is_number(source.get(metric)):
            return float(source[metric])
    return None


def curve(evidence: Mapping[str, Any], key: str, x: str, y: str) -> Curve | None:
    """A curve stored as ``{key: {x: [...], y: [...]}}``, e.g. ``roc`` with ``fpr``/``tpr``."""
    value = evidence.get(key)
    if not isinstance(value, Mapping):
        return None
    xs, ys = _numbers(value.get(x)), _numbers(value.get(y))
    if xs is None or ys is None or len(xs) != len(ys):
        return None
    return Curve(xs, ys)


def histogram(evidence: Mapping[str, Any]) -> Histogram | None:
    """``score_histogram`` as ``{edges, events, non_events}`` with consistent lengths."""
    value = evidence.get("score_histogram")
    if not isinstance(value, Mapping):
        return None
    edges = _numbers(value.get("edges"))
    events = _numbers(value.get("events"))
    non_events = _numbers(value.get("non_events"))
    if edges is None or events is None or non_events is None:
        return None
    if not (len(events) == len(non_events) == len(edges) - 1):
        return None
    return Histogram(edges, events, non_events)


def worst_row_curve(evidence: Mapping[str, Any]) -> Curve | None:
    """The monotonicity check's worst row: its scores along the feature's ``grid``."""
    grid = _numbers(evidence.get("grid"))
    worst = evidence.get("worst_row")
    scores = _numbers(worst.get("scores")) if isinstance(worst, Mapping) else None
    if grid is None or scores is None or len(grid) != len(scores):
        return None
    return Curve(grid, scores)


def records_list(value: Any) -> list[Mapping[str, Any]] | None:
    """A non-empty list of mappings (table rows), else None."""
    is_list = isinstance(value, Sequence) and not isinstance(value, str)
    if is_list and value and all(isinstance(v, Mapping) for v in value):
        return list(value)
    return None


def calibration_bands(evidence: Mapping[str, Any]) -> list[tuple[float, float]] | None:
    """(mean score, observed rate) per band of the calibration ``table``."""
    rows = records_list(evidence.get("table"))
    if rows is None:
        return None
    bands = [
        (float(r["mean_score"]), float(r["observed_rate"]))
        for r in rows
        if is_number(r.get("mean_score")) and is_number(r.get("observed_rate"))
    ]
    return bands or None


def fairness_groups(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    """The fairness ``groups`` rows (each a group of a protected attribute)."""
    return records_list(evidence.get("groups"))


def group_label(row: Mapping[str, Any]) -> str:
    for key in ("group", "band", "name", "value", "label"):
        if key in row and row[key] is not None:
            return str(row[key])
    return "?"


def importance(evidence: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    """(feature, importance) pairs from ``importance``: a list of mappings, of pairs, or a
    mapping of feature to value; in stored order."""
    value = evidence.get("importance")
    pairs: list[tuple[str, float]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), float(v)) for k, v in value.items() if is_number(v)]
    elif rows := records_list(value):
        for row in rows:
            name = next((row[k] for k in _NAME_KEYS if k in row), None)
            number = next((row[k] for k in _IMPORTANCE_KEYS if is_number(row.get(k))), None)
            if number is None:  # an unknown key: the row's first number
                number = next((v for v in row.values() if is_number(v)), None)
            if name is not None and number is not None:
                pairs.append((str(name), float(number)))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        pairs = [
            (str(item[0]), float(item[1]))
            for item in value
            if isinstance(item, Sequence)
            and not isinstance(item, str)
            and len(item) == 2
            and is_number(item[1])
        ]
    return pairs or None


def summarise(value: Any) -> Any:
    """A cell for a table: scalars as they are, short lists inline, long ones by length."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return _short(value)
    return value


def _short(value: Any) -> Any:
    if isinstance(value, Mapping):
        return f"{{{len(value)} keys}}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) > _MAX_INLINE or any(isinstance(v, Mapping | list | tuple) for v in value):
            return f"[{len(value)} values]"
        return list(value)
    return value


def evidence_tables(evidence: Mapping[str, Any]) -> list[Table]:
    """Any evidence as tables: one of its scalar (and summarised) entries, and one per list of
    mappings (at the top level or one level down)."""
    scalars: list[tuple[Any, ...]] = []
    tables: list[Table] = []
    for key, value in evidence.items():
        rows = records_list(value)
        if rows is not None:
            tables.append(rows_table(key, rows))
            continue
        if isinstance(value, Mapping):
            nested_rows = False
            for sub, sub_value in value.items():
                sub_rows = records_list(sub_value)
                if sub_rows is not None:
                    tables.append(rows_table(f"{key}.{sub}", sub_rows))
                    nested_rows = True
                else:
                    scalars.append((f"{key}.{sub}", summarise(sub_value)))
            if not value and not nested_rows:
                scalars.append((key, "{}"))
            continue
        scalars.append((key, summarise(value)))
    if scalars:
        tables.insert(0, Table("values", ("key", "value"), tuple(scalars)))
    return tables


def rows_table(title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """A list of mappings as a table whose columns are every key, in first-seen order."""
    columns = tuple(dict.fromkeys(k for row in rows for k in row))
    return Table(
        title,
        columns,
        tuple(tuple(summarise(row.get(c)) for c in columns) for row in rows),
    )
