"""History features over a whole dataset, point in time: every row's features from the rows
of its entity strictly before it (:mod:`riskops.history.definitions` states the rule).

Vectorised with one sort per entity: each row's time is ranked among all the times and window
edges the features need, the rank is offset by the entity's code so that every entity owns a
separate range of one sorted key array, and each window ``[t - lo, t - hi)`` is then two
``searchsorted`` calls and a difference of cumulative sums (of integer amount units and fraud
flags, so sums are exact). Rows need not be sorted; the result keeps the input's order.

Example::

    features = history_frame(snapshot.frame, spec, source="transactions.csv")
    features["customer_amount_mean_7d"]          # float64, one value per row
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskops.errors import DataSchemaError, Problem
from riskops.history.definitions import HistoryDefinitions
from riskops.history.store import Event, OnlineStore
from riskops.spec import LoadedSpec, ModelSpec


def history_frame(frame: pd.DataFrame, spec: ModelSpec, *, source: str) -> pd.DataFrame:
    """The spec's history features for every row of ``frame`` (its columns as text or typed),
    as float64 columns named after the features, in ``frame``'s index. DataSchemaError
    names every history column that is missing or holds a value that cannot be read."""
    if spec.history is None:
        raise ValueError(f"the spec of {spec.name!r} declares no history")
    definitions = HistoryDefinitions.of(spec.history)
    times, units, keys = _columns(frame, spec, definitions, source)
    label = spec.data.label
    frauds = (frame[label.column].astype("string") == str(label.positive)).to_numpy(
        dtype=np.int64, na_value=0
    )
    out: dict[str, np.ndarray] = {}
    for entity in definitions.entities:
        features = [f for f in spec.history.features if f.entity == entity]
        edges = [definitions.bounds(f) for f in features]
        points = np.unique(np.concatenate([times, *[times - v for e in edges for v in e]]))
        codes = pd.factorize(keys[entity])[0].astype(np.int64)
        stride = np.int64(len(points) + 1)

        event_keys = _key(codes, stride, points, times)
        order = np.argsort(event_keys, kind="stable")
        sorted_keys = event_keys[order]
        units_cum = np.concatenate([[0], np.cumsum(units[order])])
        frauds_cum = np.concatenate([[0], np.cumsum(frauds[order])])
        for feature, (lo, hi) in zip(features, edges, strict=True):
            start = np.searchsorted(sorted_keys, _key(codes, stride, points, times - lo))
            end = np.searchsorted(sorted_keys, _key(codes, stride, points, times - hi))
            count = end - start
            out[feature.name] = _finish(
                feature.aggregate,
                count,
                units_cum[end] - units_cum[start],
                frauds_cum[end] - frauds_cum[start],
                definitions.scale,
            )
    return pd.DataFrame({name: out[name] for name in definitions.names}, index=frame.index)


def _key(codes: np.ndarray, stride: np.int64, points: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each entity's code times ``stride`` plus the time's rank among ``points``: one sorted
    range per entity, ordered by time within it."""
    ranks: np.ndarray = np.searchsorted(points, times).astype(np.int64)
    keys: np.ndarray = codes * stride + ranks
    return keys


def _finish(
    aggregate: str, count: np.ndarray, units: np.ndarray, frauds: np.ndarray, scale: int
) -> np.ndarray:
    """:func:`riskops.history.definitions.finish` on arrays, with the same float operations."""
    counts = count.astype(np.float64)
    if aggregate == "count":
        return counts
    if aggregate == "sum":
        return units.astype(np.float64) / scale
    safe = np.where(count > 0, counts, 1.0)
    if aggregate == "mean":
        return np.where(count > 0, units.astype(np.float64) / safe / scale, 0.0)
    return np.where(count > 0, frauds.astype(np.float64) / safe, 0.0)


def _columns(
    frame: pd.DataFrame, spec: ModelSpec, definitions: HistoryDefinitions, source: str
) -> tuple[np.ndarray, np.ndarray, dict[str, pd.Series]]:
    history = definitions.history
    needed = [history.time_column, history.amount_column, *history.entities.values()]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataSchemaError(
            f"The dataset {source} lacks the history column(s) of {spec.name!r}: "
            f"{', '.join(missing)}.",
            problems=[Problem(c, "column is missing from the data") for c in missing],
            hint="Check history.time_column, amount_column and entities in the spec.",
        )
    problems: list[Problem] = []
    raw_time = frame[history.time_column]
    parsed = pd.to_datetime(raw_time.astype("string"), utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        bad = raw_time[parsed.isna()]
        problems.append(
            Problem(
                history.time_column,
                f"{len(bad)} value(s) are not ISO 8601 times (e.g. {bad.iloc[0]!r}; "
                f"first at row {_row(parsed.isna())})",
            )
        )
    amount = pd.to_numeric(frame[history.amount_column], errors="coerce")
    if amount.isna().any() or not np.isfinite(amount.fillna(0).to_numpy(np.float64)).all():
        problems.append(
            Problem(
                history.amount_column,
                f"{int(amount.isna().sum())} value(s) are not numbers "
                f"(first at row {_row(amount.isna())})",
            )
        )
    keys: dict[str, pd.Series] = {}
    for entity, column in history.entities.items():
        values = frame[column].astype("string").str.strip()
        absent = values.isna() | (values == "")
        if absent.any():
            problems.append(
                Problem(
                    column,
                    f"{int(absent.sum())} missing {entity} key(s) (first at row {_row(absent)})",
                )
            )
        keys[entity] = values
    if problems:
        raise DataSchemaError(
            f"The dataset {source} has history columns that cannot be read "
            f"({len(problems)} problem(s)):",
            problems=problems,
            hint="Fix the data: times as ISO 8601 text, amounts as numbers, every key present.",
        )
    naive = parsed.dt.tz_localize(None)
    times = naive.to_numpy(dtype="datetime64[us]").astype(np.int64)
    units = np.rint(amount.to_numpy(dtype=np.float64) * definitions.scale).astype(np.int64)
    return times, units, keys


def _row(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy(dtype=bool, na_value=True))[0]) + 1


def history_events(frame: pd.DataFrame, spec: ModelSpec, *, source: str) -> list[Event]:
    """Every row of ``frame`` as an online-store event, labelled from the label column (the
    history a backfill loads; DataSchemaError as :func:`history_frame`)."""
    if spec.history is None:
        raise ValueError(f"the spec of {spec.name!r} declares no history")
    definitions = HistoryDefinitions.of(spec.history)
    times, units, keys = _columns(frame, spec, definitions, source)
    history = spec.history
    ids = frame[history.event_id].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any() or ids.duplicated().any():
        raise DataSchemaError(
            f"The dataset {source} needs one distinct transaction id per row in "
            f"{history.event_id!r}.",
            problems=[Problem(history.event_id, "has missing or repeated ids")],
            hint="Fix the data: every transaction needs its own id.",
        )
    label = spec.data.label
    fraud = (frame[label.column].astype("string") == str(label.positive)).to_numpy(
        dtype=bool, na_value=False
    )
    entity_keys = {entity: keys[entity].tolist() for entity in history.entities}
    return [
        Event(
            event_id,
            int(times[i]),
            int(units[i]),
            {entity: values[i] for entity, values in entity_keys.items()},
            bool(fraud[i]),
        )
        for i, event_id in enumerate(ids.tolist())
    ]


def backfill(store: OnlineStore, loaded: LoadedSpec, *, batch: int = 10_000) -> tuple[int, int]:
    """Load the spec's training data into ``store`` as the model's history, labels included;
    ``(rows read, events new)`` (an event already kept is left as it is)."""
    spec = loaded.spec
    path = loaded.resolve(spec.data.source)
    if not path.is_file():
        raise DataSchemaError(
            f"The dataset {path} does not exist.",
            hint="Check data.source in the spec (a path relative to the spec file).",
        )
    # As riskops.datasets.snapshot reads it: every column as text.
    frame = pd.read_csv(path, dtype="string", keep_default_na=True)
    events = history_events(frame, spec, source=str(path))
    new = 0
    for start in range(0, len(events), batch):
        new += store.append_many(spec.name, events[start : start + batch])
    return len(events), new
