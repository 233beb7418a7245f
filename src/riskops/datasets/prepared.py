"""A snapshot made ready for a model: typed features, labels, encoded matrix and the split.

A spec with ``history`` gets its history features computed here, point in time, over the
whole snapshot before the split (:func:`riskops.history.offline.history_frame`), so
training, validation and reproduction all see the same values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.datasets.schema import check_schema, label_vector
from riskops.datasets.snapshot import Snapshot, load_snapshot
from riskops.datasets.split import SplitIndex, split_rows
from riskops.errors import DataSchemaError, Problem
from riskops.history.offline import history_frame
from riskops.spec import LoadedSpec, ModelSpec


@dataclass(frozen=True)
class Prepared:
    features: pd.DataFrame  # typed, spec order
    matrix: np.ndarray  # encoded float64
    y: np.ndarray
    split: SplitIndex
    raw: pd.DataFrame  # the snapshot's rows as read, with computed history features added

    @property
    def train_features(self) -> pd.DataFrame:
        return self.features.iloc[self.split.train].reset_index(drop=True)

    @property
    def y_train(self) -> np.ndarray:
        return np.asarray(self.y[self.split.train])

    @property
    def validation_matrix(self) -> np.ndarray:
        return np.asarray(self.matrix[self.split.validation])

    @property
    def y_validation(self) -> np.ndarray:
        return np.asarray(self.y[self.split.validation])

    @property
    def has_test(self) -> bool:
        """Whether the spec keeps a test partition (``data.split.holdout_size``)."""
        return self.split.test is not None

    @property
    def test_matrix(self) -> np.ndarray:
        """The test partition's encoded rows (none when the spec keeps no test partition)."""
        rows = self.split.test if self.split.test is not None else np.arange(0)
        return np.asarray(self.matrix[rows])

    @property
    def y_test(self) -> np.ndarray:
        rows = self.split.test if self.split.test is not None else np.arange(0)
        return np.asarray(self.y[rows])


def prepare(snapshot: Snapshot, spec: ModelSpec) -> Prepared:
    """Check ``snapshot`` against ``spec`` (raising DataSchemaError) and prepare it."""
    check_schema(snapshot.frame, spec, source=str(snapshot.path))
    frame = snapshot.frame.reset_index(drop=True)
    if spec.history is not None:
        computed = history_frame(frame, spec, source=str(snapshot.path))
        frame = frame.assign(**{name: computed[name] for name in computed.columns})
    features = typed_frame(frame, spec)
    y = label_vector(frame, spec).to_numpy()
    return Prepared(
        features=features,
        matrix=encode_frame(features),
        y=y,
        split=split_rows(y, spec.data.split, times=_split_times(frame, spec)),
        raw=frame,
    )


def _split_times(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray | None:
    """The times that order rows for ``split.method: time`` (None for other methods)."""
    split = spec.data.split
    if split.method != "time":
        return None
    column = split.time_column or (spec.history.time_column if spec.history else None)
    if column is None or column not in frame.columns:
        raise DataSchemaError(
            f"The data has no column {column!r} to order rows for the time split.",
            problems=[Problem(str(column), "column is missing from the data")],
            hint="Set data.split.time_column to a column of ISO 8601 times.",
        )
    times = pd.to_datetime(
        frame[column].astype("string"), utc=True, errors="coerce", format="ISO8601"
    )
    if times.isna().any():
        first = int(np.flatnonzero(times.isna().to_numpy())[0]) + 1
        raise DataSchemaError(
            f"The time split's column {column!r} holds values that are not ISO 8601 times.",
            problems=[Problem(column, f"{int(times.isna().sum())} value(s), first at row {first}")],
            hint="Fix the data: every row needs its time, e.g. 2018-04-01 00:00:31.",
        )
    moments: np.ndarray = times.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return moments.astype(np.int64)


def load_checked(loaded: LoadedSpec) -> Snapshot:
    """The spec's dataset, loaded and checked against its schema (DataSchemaError if not)."""
    snapshot = load_snapshot(loaded.resolve(loaded.spec.data.source))
    check_schema(snapshot.frame, loaded.spec, source=str(snapshot.path))
    return snapshot
