"""Checking a dataset against the schema its spec declares, before anything is trained on it.

Every problem is collected (not just the first) and reported with the column, what is wrong,
and example row numbers (1-based data rows, as a spreadsheet shows them below the header).
"""

from __future__ import annotations

import difflib

import pandas as pd

from riskops.errors import DataSchemaError, Problem
from riskops.spec import ModelSpec

_EXAMPLES = 3


def _rows(mask: pd.Series) -> str:
    positions = [int(i) + 1 for i in mask.to_numpy().nonzero()[0][:_EXAMPLES]]
    more = int(mask.sum()) - len(positions)
    text = ", ".join(str(p) for p in positions)
    return f"rows {text}" + (f" and {more} more" if more > 0 else "")


def _at(index: pd.Index, rows: pd.Index) -> pd.Series:
    return pd.Series(index.isin(rows), index=index)


def _near(column: str, candidates: list[str]) -> list[str]:
    """Columns spelled like ``column`` (case aside), best first: ``PAY_1`` finds ``PAY_0``."""
    by_folded = {c.casefold(): c for c in candidates}
    close = difflib.get_close_matches(column.casefold(), list(by_folded), n=3, cutoff=0.6)
    return [by_folded[c] for c in close]


def check_schema(frame: pd.DataFrame, spec: ModelSpec, *, source: str) -> None:
    """Raise :class:`DataSchemaError` listing every way ``frame`` breaks ``spec``."""
    problems: list[Problem] = []
    frame = frame.reset_index(drop=True)
    label = spec.data.label
    # History features are computed from the history columns (riskops.history.offline),
    # not read: the data must have those columns instead.
    computed = {f.name for f in spec.history.features} if spec.history else set()
    read = [name for name in spec.feature_names if name not in computed]
    needed = [*read, label.column, *spec.data.protected_attributes]
    if spec.history:
        history = spec.history
        needed += [history.event_id, history.time_column, history.amount_column]
        needed += list(history.entities.values())
    if spec.data.subject_key:
        needed.append(spec.data.subject_key)
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    # Only a column the spec does not already use can be the one it meant.
    unused = [str(c) for c in frame.columns if c not in set(needed)]
    for column in missing:
        near = _near(column, unused)
        guess = f"; did you mean {' or '.join(repr(c) for c in near)}?" if near else ""
        problems.append(Problem(column, f"column is missing from the data{guess}", "missing"))

    for feature in spec.features:
        if feature.name not in frame.columns or feature.name in computed:
            continue
        column = frame[feature.name]
        absent = column.isna() | (column.str.strip() == "")
        if absent.any() and not feature.allow_missing:
            problems.append(
                Problem(
                    feature.name,
                    f"{int(absent.sum())} missing value(s) ({_rows(absent)}) but the spec does "
                    "not set allow_missing: true",
                )
            )
        present = column[~absent]
        if feature.type == "numeric":
            numbers = pd.to_numeric(present, errors="coerce")
            bad = numbers.isna()
            if bad.any():
                examples = ", ".join(repr(v) for v in present[bad].unique()[:_EXAMPLES])
                problems.append(
                    Problem(
                        feature.name,
                        f"{int(bad.sum())} value(s) are not numbers ({examples}; "
                        f"{_rows(_at(column.index, present[bad].index))})",
                    )
                )
            numbers = numbers[~bad]
            if feature.min is not None and (numbers < feature.min).any():
                low = numbers < feature.min
                problems.append(
                    Problem(
                        feature.name,
                        f"{int(low.sum())} value(s) below the allowed minimum {feature.min:g} "
                        f"(smallest {numbers.min():g}; "
                        f"{_rows(_at(column.index, numbers[low].index))})",
                    )
                )
            if feature.max is not None and (numbers > feature.max).any():
                high = numbers > feature.max
                problems.append(
                    Problem(
                        feature.name,
                        f"{int(high.sum())} value(s) above the allowed maximum {feature.max:g} "
                        f"(largest {numbers.max():g}; "
                        f"{_rows(_at(column.index, numbers[high].index))})",
                    )
                )
        else:
            allowed = set(feature.categories or ())
            unknown = ~present.isin(allowed)
            if unknown.any():
                counts = present[unknown].value_counts()
                listed = ", ".join(f"{v!r} ×{n}" for v, n in counts.head(_EXAMPLES).items())
                problems.append(
                    Problem(
                        feature.name,
                        f"{int(unknown.sum())} value(s) not in the spec's categories: {listed}"
                        + (
                            f" (the data must spell the {feature.category_kind} codes as "
                            f"{', '.join(repr(c) for c in (feature.categories or ())[:3])}…)"
                            if feature.category_kind != "text"
                            else ""
                        ),
                    )
                )

    if label.column in frame.columns:
        values = frame[label.column]
        allowed_labels = {str(label.positive), str(label.negative)}
        bad = values.isna() | ~values.isin(allowed_labels)
        if bad.any():
            seen = (
                ", ".join(repr(v) for v in values[bad].dropna().unique()[:_EXAMPLES]) or "missing"
            )
            problems.append(
                Problem(
                    label.column,
                    f"{int(bad.sum())} label value(s) are neither {label.positive!r} nor "
                    f"{label.negative!r} (found {seen}; {_rows(bad)}); if the data codes its "
                    "classes differently, set data.label.positive and data.label.negative to "
                    "the values it uses",
                )
            )
        elif values.nunique() < 2:
            problems.append(Problem(label.column, "the label has only one class; nothing to learn"))

    if problems:
        raise DataSchemaError(
            f"The dataset {source} does not match the spec of {spec.name!r} "
            f"({len(problems)} problem(s)):",
            problems=problems,
            hint="Fix the data, or, if the data is right, update the features in the spec "
            "(min/max, categories, allow_missing).",
        )


def label_vector(frame: pd.DataFrame, spec: ModelSpec) -> pd.Series:
    """1 where the label is the spec's positive class (the predicted event), else 0."""
    return (frame[spec.data.label.column] == str(spec.data.label.positive)).astype("int64")
