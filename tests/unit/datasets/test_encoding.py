from __future__ import annotations

import numpy as np
import pandas as pd

from riskops.datasets.encoding import encode_frame, typed_frame
from riskops.datasets.split import split_rows
from riskops.spec import Split, load_spec
from tests.conftest import SPEC

SPEC_OBJ = load_spec(SPEC).spec


def test_categories_become_their_position_in_the_spec() -> None:
    raw = pd.DataFrame(
        {f.name: ["1"] if f.type == "numeric" else [f.categories[-1]] for f in SPEC_OBJ.features}  # type: ignore[index]
    )
    raw.loc[0, "purpose"] = "car (used)"
    raw.loc[0, "duration_in_month"] = "24"
    matrix = encode_frame(typed_frame(raw, SPEC_OBJ))
    names = list(SPEC_OBJ.feature_names)
    assert matrix.dtype == np.float64
    assert matrix.shape == (1, len(names))
    assert matrix[0, names.index("purpose")] == 1.0
    assert matrix[0, names.index("duration_in_month")] == 24.0
    assert matrix[0, names.index("telephone")] == 1.0


def test_unknown_and_missing_values_become_nan() -> None:
    raw = pd.DataFrame({f.name: [None, None] for f in SPEC_OBJ.features}, dtype="string")
    raw.loc[0, "purpose"] = "yacht"
    matrix = encode_frame(typed_frame(raw, SPEC_OBJ))
    assert np.isnan(matrix).all()


def test_the_split_is_deterministic_and_stratified() -> None:
    y = np.array([0] * 70 + [1] * 30)
    first = split_rows(y, Split(test_size=0.3, seed=5))
    again = split_rows(y, Split(test_size=0.3, seed=5))
    other = split_rows(y, Split(test_size=0.3, seed=6))
    assert np.array_equal(first.validation, again.validation)
    assert not np.array_equal(first.validation, other.validation)
    assert len(first.validation) == 30
    assert y[first.validation].sum() == 9
    assert set(first.train).isdisjoint(first.validation)
