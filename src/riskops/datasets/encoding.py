"""Features in the spec's order as the models see them.

Numeric features are float64; a categorical feature becomes the position of its value in the
spec's ``categories`` list (0, 1, …), as float64; a missing value is NaN. Training, validation
and (later) serving all use this one encoding, so a model never sees two dialects.

Example::

    typed = typed_frame(raw_frame, spec)        # category dtype with the spec's categories
    matrix = encode_frame(typed)                # float64 matrix, categories as codes
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskops.spec import ModelSpec


def typed_frame(raw: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The spec's features from ``raw``, in spec order, categorical ones as ``category`` dtype
    whose categories are the spec's list (values outside it become missing)."""
    columns: dict[str, pd.Series] = {}
    for feature in spec.features:
        column = raw[feature.name]
        if feature.type == "categorical":
            assert feature.categories is not None
            values = column.astype("string")
            # Values outside the spec's list become missing (the schema check reports them).
            values = values.where(values.isin(feature.categories))
            columns[feature.name] = pd.Series(
                pd.Categorical(values, categories=list(feature.categories)), index=raw.index
            )
        else:
            columns[feature.name] = pd.to_numeric(column, errors="coerce").astype("float64")
    return pd.DataFrame(columns, index=raw.index)


def encode_frame(typed: pd.DataFrame) -> np.ndarray:
    """A float64 matrix of ``typed`` with categories replaced by their codes (missing → NaN)."""
    out = np.empty(typed.shape, dtype=np.float64)
    for i, name in enumerate(typed.columns):
        column = typed[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, i] = codes
        else:
            out[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out
