"""A snapshot made ready for a model: typed features, labels, encoded matrix and the split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.datasets.schema import check_schema, label_vector
from riskops.datasets.snapshot import Snapshot, load_snapshot
from riskops.datasets.split import SplitIndex, split_rows
from riskops.spec import LoadedSpec, ModelSpec


@dataclass(frozen=True)
class Prepared:
    features: pd.DataFrame  # typed, spec order
    matrix: np.ndarray  # encoded float64
    y: np.ndarray
    split: SplitIndex

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


def prepare(snapshot: Snapshot, spec: ModelSpec) -> Prepared:
    """Check ``snapshot`` against ``spec`` (raising DataSchemaError) and prepare it."""
    check_schema(snapshot.frame, spec, source=str(snapshot.path))
    frame = snapshot.frame.reset_index(drop=True)
    features = typed_frame(frame, spec)
    y = label_vector(frame, spec).to_numpy()
    return Prepared(
        features=features, matrix=encode_frame(features), y=y, split=split_rows(y, spec.data.split)
    )


def load_checked(loaded: LoadedSpec) -> Snapshot:
    """The spec's dataset, loaded and checked against its schema (DataSchemaError if not)."""
    snapshot = load_snapshot(loaded.resolve(loaded.spec.data.source))
    check_schema(snapshot.frame, loaded.spec, source=str(snapshot.path))
    return snapshot
