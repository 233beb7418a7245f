"""A first model spec drafted from a dataset: ``riskops spec init``.

It reads the CSV as training does (every column as text), infers each column's type, range
(widened by :data:`RANGE_MARGIN`), categories and missing rate, and writes a folder with a
``model.yaml`` that ``riskops spec check`` accepts and a ``trainer.py`` on the reference
LightGBM trainer's approach. What only the owner can say (reason texts, intended use, cut-offs)
is written as a ``TODO(owner): …`` placeholder; ``spec check`` warns while any is left.

>>> draft = draft_spec(Path("data.csv"), label="default", name="card-default")  # doctest: +SKIP
>>> write_scaffold(draft, Path("models/card_default"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskops.datasets.snapshot import load_snapshot
from riskops.errors import ConflictError, InputError
from riskops.spec import NAME_PATTERN
from riskops.statistics.calibration import hosmer_lemeshow_power

PLACEHOLDER = "TODO(owner)"
RANGE_MARGIN = 0.10
"""Each side of a numeric range is widened by this share of the range seen in the data."""
MAX_CODES = 10
"""An integer column with at most this many distinct values is drafted as integer codes."""
MANY_CATEGORIES = 50
"""A text column with more distinct values than this is flagged for the owner to look at."""
HELD_OUT_SHARE = 0.25
"""The share of rows the drafted split keeps as the test partition (``holdout_size``): scored
once per version, the rows the gates report on, so the sizes below are drafted from it."""
VALIDATION_SHARE = 0.2
"""The share of rows the drafted split keeps for tuning and the champion comparison
(``test_size``)."""
MAX_GROUP_SIZE = 100
"""The largest ``min_group_size`` drafted: at 100 held-out rows two standard errors of a
group's approval rate, ``2 · sqrt(p (1 − p) / n)``, stay within 0.10 at any rate ``p``."""
HL_ALPHA = 0.05
HL_MEANINGFUL_GAP = 0.05
"""Hosmer–Lemeshow is drafted as a threshold only while the smallest gap it detects is at
least this large (half the default ``max_ece`` of 0.10); on more rows it would flag gaps that
ECE and the slope forgive, and is left unset (its numbers stay in the evidence)."""


def min_group_size_for(held_out: int) -> int:
    """The ``min_group_size`` drafted for ``held_out`` test rows: a tenth of them, at
    least 5 and at most :data:`MAX_GROUP_SIZE` (1,000 rows, 300 held out: 30)."""
    return max(5, min(MAX_GROUP_SIZE, held_out // 10))


def hosmer_lemeshow_gap(held_out: int, event_rate: float) -> float | None:
    """The calibration gap Hosmer–Lemeshow detects at :data:`HL_ALPHA` with 80% power on
    ``held_out`` rows in 10 equal groups, all at ``event_rate``; scores spread over the risk
    range give it more power, so this is the gap at most. ``None`` with too few rows."""
    per_group = held_out // 10
    if per_group < 1 or not 0.0 < event_rate < 1.0:
        return None
    groups: list[dict[str, float | int]] = [
        {"count": per_group, "expected": per_group * event_rate} for _ in range(10)
    ]
    power = hosmer_lemeshow_power(groups, alpha=HL_ALPHA)
    return power.detectable_gap if power is not None else None


@dataclass
class DraftFeature:
    """One column as the draft declares it, with what the data showed (for the comments)."""

    name: str
    type: str
    seen: str
    min: float | None = None
    max: float | None = None
    categories: list[str | int] = field(default_factory=list)
    missing_rate: float = 0.0


@dataclass
class Draft:
    """A drafted spec: ``text`` is the model.yaml to write."""

    name: str
    source: Path
    rows: int
    features: list[DraftFeature]
    text: str


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON scalars are YAML scalars


def _round_out(value: float, up: bool) -> float:
    """``value`` rounded outwards to two significant digits (1234 → 1300 going up)."""
    if value == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(value))) - 1)
    rounded = (math.ceil if up else math.floor)(value / step) * step
    return float(round(rounded, 10))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _plain_integers(present: pd.Series) -> bool:
    """Whether every text is an integer written plainly (``2``, not ``02``, ``2.0``, ``+2``),
    the form the spec's integer codes are matched by."""
    return bool(present.str.fullmatch(r"-?(0|[1-9][0-9]*)").all())


def _infer(name: str, column: pd.Series) -> DraftFeature:
    present = column.dropna()
    present = present[present.str.strip() != ""]
    missing_rate = 1.0 - len(present) / len(column) if len(column) else 0.0
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and not numbers.isna().any():
        low, high = float(numbers.min()), float(numbers.max())
        integral = bool((numbers == numbers.round()).all())
        distinct = sorted(numbers.unique())
        if integral and len(distinct) <= MAX_CODES:
            if not _plain_integers(present):  # '01', '02': codes kept as the text they are
                return _text_categories(name, present, missing_rate)
            return DraftFeature(
                name,
                "categorical",
                f"{len(distinct)} integer values",
                categories=[int(v) for v in distinct],
                missing_rate=missing_rate,
            )
        margin = (high - low) * RANGE_MARGIN
        allowed_low = _round_out(low - margin, up=False)
        if low >= 0 > allowed_low:
            allowed_low = 0.0  # a quantity that is never negative stays so
        return DraftFeature(
            name,
            "numeric",
            f"{_number(low)} to {_number(high)}",
            min=allowed_low,
            max=_round_out(high + margin, up=True),
            missing_rate=missing_rate,
        )
    return _text_categories(name, present, missing_rate)


def _text_categories(name: str, present: pd.Series, missing_rate: float) -> DraftFeature:
    values: list[str | int] = sorted(str(v) for v in present.unique())
    return DraftFeature(
        name, "categorical", f"{len(values)} values", categories=values, missing_rate=missing_rate
    )


def _label_values(column: pd.Series, label: str) -> tuple[str | int, str | int]:
    """(positive, negative): 1/0 for a 0/1 label, else the rarer value as the event."""
    counts = column.dropna().value_counts()
    if len(counts) != 2:
        shown = ", ".join(repr(v) for v in counts.index[:5])
        raise InputError(
            f"The label column {label!r} has {len(counts)} distinct value(s) ({shown}); "
            "a risk model needs exactly two classes.",
            hint="Name the column that holds the event and its opposite with --label.",
        )
    values = {str(v) for v in counts.index}
    if values == {"0", "1"}:
        return 1, 0
    rare, common = str(counts.index[-1]), str(counts.index[0])
    return rare, common


def _fairness(
    frame: pd.DataFrame, attribute: str, feature: DraftFeature, min_group_size: int
) -> list[str]:
    """YAML lines under ``fairness:`` grouping ``attribute`` so that each group's share of the
    held-out rows is expected to reach ``min_group_size``."""
    column = frame[attribute].dropna()
    if feature.type == "numeric":
        median = float(pd.to_numeric(column).median())
        return [f"      {_json(attribute)}: [{_number(_round_out(median, up=True))}]"]
    counts = column.value_counts()
    small = [str(v) for v, n in counts.items() if n * HELD_OUT_SHARE < min_group_size]
    if len(small) < 2:
        return []
    return [
        f"      {_json(attribute)}:",
        f"        other: [{', '.join(_json(v) for v in sorted(small))}]",
    ]


def _uncomparable(
    frame: pd.DataFrame, attribute: str, feature: DraftFeature, min_group_size: int
) -> str | None:
    """Why ``attribute``'s groups cannot be compared in the held-out rows (fewer than two
    expected to reach ``min_group_size``, rare values gathered), or ``None``."""
    if feature.type == "numeric":
        return None
    counts = frame[attribute].dropna().value_counts()
    expected = counts * HELD_OUT_SHARE
    large = expected[expected >= min_group_size]
    gathered = float(expected[expected < min_group_size].sum())
    if len(large) + (gathered >= min_group_size and len(expected) - len(large) >= 2) >= 2:
        return None
    rest = round(float(expected.sum()) - (float(large.max()) if len(large) else 0.0))
    return (
        f"about {rest} held-out rows fall outside the largest group of {attribute}, fewer "
        f"than min_group_size ({min_group_size}); say why its groups cannot be compared, or "
        "collect more data"
    )


def draft_spec(
    data: Path,
    *,
    label: str,
    name: str,
    subject_key: str | None = None,
    protected: tuple[str, ...] = (),
    data_reference: str | None = None,
) -> Draft:
    """A spec for ``data`` predicting ``label``: every other column (but the subject key and
    the protected attributes) is a feature. ``data_reference`` is how the spec names the file
    (default: its absolute path)."""
    if not re.match(NAME_PATTERN, name):
        raise InputError(
            f"The model name {name!r} is not allowed.",
            hint="Use 3-64 lower-case letters, digits and '-', e.g. --name card-default.",
        )
    frame = load_snapshot(data).frame
    columns = [str(c) for c in frame.columns]
    for role, column in [
        ("label", label),
        ("subject key", subject_key),
        *[("protected attribute", p) for p in protected],
    ]:
        if column is not None and column not in columns:
            raise InputError(
                f"The {role} {column!r} is not a column of {data}.",
                hint=f"The columns are: {', '.join(columns[:30])}"
                + (" …" if len(columns) > 30 else ""),
            )
    positive, negative = _label_values(frame[label], label)
    kept = {label, subject_key, *protected}
    features = [_infer(c, frame[c]) for c in columns if c not in kept]
    if not features:
        raise InputError(
            f"{data} has no column left to be a feature.",
            hint="Every column is the label, the subject key or a protected attribute.",
        )
    by_name = {f.name: f for f in features}
    protected_drafts = {p: by_name.get(p) or _infer(p, frame[p]) for p in protected}
    event_rate = float((frame[label].astype("string") == str(positive)).mean())
    approve_below = round(max(0.01, min(0.5, event_rate * 0.7)), 2)
    decline_from = round(max(approve_below + 0.05, min(0.95, event_rate * 1.7)), 2)

    todo = PLACEHOLDER
    lines = [
        f"# Drafted by riskops spec init from {data.name} ({len(frame)} rows). Every key is",
        "# described in docs/model-spec.md. Fill in every owner placeholder before training for",
        "# real: riskops spec check warns while any is left.",
        f"name: {name}",
        f"intended_use: {_json(f'{todo}: what the score may be used for, and by whom.')}",
        f"out_of_scope_use: {_json(f'{todo}: uses the model must not be put to.')}",
        "risk_tier: high  # TODO(owner): high, medium or low",
        f"owner: {_json(f'{todo}: the team accountable for the model')}",
        "",
        "data:",
        f"  source: {_json(data_reference or str(data.resolve()))}",
        f"  subject_key: {_json(subject_key)}",
        f"  # {event_rate:.1%} of the rows are the event",
        f"  label: {{column: {_json(label)}, positive: {_json(positive)}, "
        f"negative: {_json(negative)}}}",
        f"  protected_attributes: [{', '.join(_json(p) for p in protected)}]",
        "  # train on the rest; validation rows serve tuning and the champion comparison; the",
        "  # test partition is scored once per version, for the reported figures",
        f"  split: {{method: stratified, test_size: {VALIDATION_SHARE}, "
        f"holdout_size: {HELD_OUT_SHARE}, seed: 0}}",
        "",
        "features:",
    ]
    for f in features:
        lines.append(f"  # {f.name}: {f.seen} in the data, {f.missing_rate:.1%} missing")
        if len(f.categories) > MANY_CATEGORIES:
            lines.append(
                f"  # {PLACEHOLDER}: {len(f.categories)} categories; an identifier or free text? "
                "Drop it, or pass it as --subject-key."
            )
        lines.append(f"  - name: {_json(f.name)}")
        lines.append(f"    type: {f.type}")
        if f.type == "numeric":
            lines.append(
                f"    min: {_number(f.min or 0.0)}  # the data's range widened by "
                f"{RANGE_MARGIN:.0%} each side"
            )
            lines.append(f"    max: {_number(f.max or 0.0)}")
        else:
            lines.append(f"    categories: [{', '.join(_json(c) for c in f.categories)}]")
        if f.missing_rate > 0:
            lines.append("    allow_missing: true")
        lines.append(f"    reason: {_json(f'{todo}: reason text when {f.name} drives a decline')}")
    lines += [
        "",
        "trainer:",
        "  entrypoint: trainer.py:fit_lightgbm",
        "  params: {n_estimators: 100, learning_rate: 0.05, num_leaves: 8, min_child_samples: 20}",
        "",
        "policy:",
        f"  # {todo}: cut-offs drafted around the event rate ({event_rate:.1%}); set them from",
        "  # the costs of a missed event and a false alarm (docs/model-spec.md#policy).",
        f"  approve_below: {approve_below}",
        f"  decline_from: {decline_from}",
    ]
    held_out = round(len(frame) * HELD_OUT_SHARE)
    group_size = min_group_size_for(held_out)
    bands: list[str] = []
    groups: list[str] = []
    for attribute, draft in protected_drafts.items():
        (bands if draft.type == "numeric" else groups).extend(
            _fairness(frame, attribute, draft, group_size)
        )
    gates = _calibration_lines(held_out, event_rate)
    if protected:
        gates += [
            "  fairness:",
            f"    # Sized for about {held_out:,} held-out rows: groups smaller than min_group_size",
            "    # are reported, not compared. Two standard errors of a group's approval rate are",
            f"    # {2 * 0.5 / math.sqrt(group_size):.2f} at {group_size} rows at worst "
            f"(2 x sqrt(0.25 / n)); {MAX_GROUP_SIZE} rows keep them",
            "    # within 0.10. Numeric attributes are split at the median, values expected to",
            "    # fall short of min_group_size in the held-out rows are gathered as 'other'.",
            f"    min_group_size: {group_size}",
            *(["    bands:", *bands] if bands else []),
            *(["    groups:", *groups] if groups else []),
        ]
    # A check that cannot be computed fails unless declared not applicable with a reason; the
    # draft declares the ones it cannot run and leaves the reason to the owner.
    undeclared = {
        "monotonicity": "no feature declares monotone; declare it where the relation to the "
        "event is known, or say why none is",
        **(
            {
                "data_quality.duplicate_subjects": "no subject key; say why rows cannot be "
                "linked to a person, or pass --subject-key"
            }
            if subject_key is None
            else {}
        ),
        **(
            {
                "fairness": "no protected attribute; say why decisions cannot be compared "
                "across groups, or pass --protected"
            }
            if not protected
            else {}
        ),
        **{
            f"fairness.{attribute}": why
            for attribute, draft in protected_drafts.items()
            if (why := _uncomparable(frame, attribute, draft, group_size)) is not None
        },
    }
    gates += [
        "  not_applicable:",
        *(f"    {check}: {_json(f'{todo}: {why}')}" for check, why in undeclared.items()),
    ]
    lines += ["", "gates:", *gates]
    text = "\n".join(lines) + "\n"
    return Draft(name=name, source=data, rows=len(frame), features=features, text=text)


def _calibration_lines(held_out: int, event_rate: float) -> list[str]:
    """The ``calibration:`` gate, with Hosmer–Lemeshow set only where its power is modest."""
    gap = hosmer_lemeshow_gap(held_out, event_rate)
    lines = [
        "  calibration:",
        "    # ECE and the calibration slope are the judged measures. Hosmer-Lemeshow's power",
        f"    # grows with the rows: at {HL_ALPHA:g} on about {held_out:,} held-out rows at a "
        f"{event_rate:.0%} event rate",
    ]
    if gap is None:
        return [
            *lines[:2],
            "    # there are too few held-out rows for it; it is left unset.",
            "    max_ece: 0.10",
            "    slope_range: [0.7, 1.3]",
        ]
    lines.append(
        f"    # it detects (80% power) a gap of about {gap:.3f} between a risk group's mean "
        "score and its"
    )
    if gap >= HL_MEANINGFUL_GAP:
        lines += [
            f"    # event rate, no finer than ECE can judge: it is set at {HL_ALPHA:g}.",
            "    max_ece: 0.10",
            "    slope_range: [0.7, 1.3]",
            f"    min_hosmer_lemeshow_p: {HL_ALPHA:g}",
        ]
    else:
        lines += [
            f"    # event rate, below {HL_MEANINGFUL_GAP:g}: it would flag gaps too small to "
            "matter, so it is left",
            "    # unset (its numbers stay in the evidence). Set min_hosmer_lemeshow_p only with "
            "a reason.",
            "    max_ece: 0.10",
            "    slope_range: [0.7, 1.3]",
        ]
    return lines


TRAINER = '''"""Training code for {name}, drafted by riskops spec init on the reference credit-scoring
trainer's approach: LightGBM on the category codes (its native categorical splits).

riskops calls ``fit_lightgbm(X, y, params)``: ``X`` is a DataFrame in the spec's feature order,
categorical features with the ``category`` dtype holding the spec's categories; ``y`` is 1 for
the event. The model scores the float matrix ``encode_frame`` makes, so serving needs no pandas.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskops.datasets.encoding import encode_frame


def fit_lightgbm(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    """Gradient-boosted trees; ``params`` are LightGBM's (the spec's trainer.params)."""
    categorical = [
        i for i, dtype in enumerate(X.dtypes) if isinstance(dtype, pd.CategoricalDtype)
    ]
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, **params)
    model.fit(encode_frame(X), y, feature_name=list(X.columns), categorical_feature=categorical)
    return model.booster_
'''


def write_scaffold(draft: Draft, folder: Path, *, force: bool = False) -> list[Path]:
    """Write ``model.yaml`` and ``trainer.py`` into ``folder``; refuses to overwrite either
    unless ``force``."""
    spec_path, trainer_path = folder / "model.yaml", folder / "trainer.py"
    existing = [p for p in (spec_path, trainer_path) if p.exists()]
    if existing and not force:
        raise ConflictError(
            f"{', '.join(str(p) for p in existing)} already exist(s); nothing was written.",
            hint="Choose another --out folder, or pass --force to overwrite.",
        )
    folder.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(draft.text, encoding="utf-8")
    trainer_path.write_text(TRAINER.format(name=draft.name), encoding="utf-8")
    return [spec_path, trainer_path]


def placeholders(text: str) -> list[int]:
    """The line numbers (1-based) of a spec's text that still hold a ``TODO(owner)``."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if PLACEHOLDER in line]
