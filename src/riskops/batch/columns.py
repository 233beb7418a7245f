"""Checking and encoding a columnar batch of subjects exactly as the serving encoder would.

A batch file holds one column per feature. :class:`ColumnEncoder` turns an Arrow record batch
into the model's float64 matrix with vectorised operations, and sets aside the rows the
serving encoder (:class:`~riskops.scoring.features.FeatureEncoder`) would refuse, with the
serving encoder's own messages. The encoding is serving's and training's
(:mod:`riskops.datasets.encoding`): a number as float64, a category as its position in the
spec's ``categories``, a missing value as NaN.

What a row's features are, as a request would carry them:

- numeric feature: an integer, floating or decimal column gives numbers (null and NaN are a
  missing value); a text column (every CSV column is read as text) gives the number the text
  spells, as Arrow parses it (``12``, ``-0.5``, ``1e3``), else the text itself, which serving
  refuses as "expected a number"; a boolean column gives booleans, which serving refuses;
- categorical feature: a text column gives its text; an integer column its decimal text
  (``1`` matches a category ``"1"`` or the integer code ``1``); a boolean column, for a
  feature with boolean codes, ``True``/``False``; null is a missing value.

A row is rejected when serving would refuse it: a missing value where the spec does not
allow one, a number that is not finite or lies outside ``min``/``max``, text or a boolean
where a number goes, a category outside the spec's list (unless ``unknown_category`` is
``"missing"``). The checks run on whole columns; only the rows they flag are handed to the
serving encoder, one at a time, for the message (rejects are rare, and this keeps the two
in agreement by construction: a flagged row the serving encoder accepts is scored).

A column missing from the file, or of a type no feature value can have (a float or boolean
column for a categorical feature, a nested column), is refused up front, naming the columns
that come close.

Each batch also gets a digest of its feature values (:attr:`Encoded.digest`), which a resumed
job compares to decide that a partition's input has not changed.

Example::

    encoder = ColumnEncoder(spec)
    encoder.check_schema(table.schema, source="applicants.parquet")
    encoded = encoder.encode(batch)
    encoded.matrix[encoded.valid], encoded.rejects
"""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskops.errors import DataSchemaError, Problem
from riskops.scoring.features import FeatureEncoder, RequestInvalid, UnknownCategory
from riskops.spec import Feature, ModelSpec


@dataclass(frozen=True)
class Reject:
    """One input row the serving encoder refuses: its position in the batch, every problem
    as ``feature: message``, and the problems' codes."""

    position: int
    reason: str
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Encoded:
    """A batch, encoded: the (m, n) ``matrix`` (rows of rejected subjects are not to be used),
    ``valid`` (bool, per row), the ``rejects`` in row order, and the ``digest`` of the
    batch's feature values."""

    matrix: np.ndarray
    valid: np.ndarray
    rejects: tuple[Reject, ...]
    digest: str


@dataclass
class _Column:
    """One feature's column, read: the encoded values, which rows are bad, and what a
    request would carry for a row (only asked for the flagged rows)."""

    encoded: np.ndarray
    bad: np.ndarray
    values: Any  # request values: a numpy array, or a function of a row position


class ColumnEncoder:
    """Vectorised checking and encoding of Arrow batches for one spec (see the module
    docstring); the per-row messages are the serving encoder's."""

    def __init__(self, spec: ModelSpec, *, unknown_category: UnknownCategory = "reject") -> None:
        self.spec = spec
        self.serving = FeatureEncoder(spec, unknown_category=unknown_category)
        self.unknown_category = unknown_category
        self._codes = {
            f.name: {value: float(code) for code, value in enumerate(f.categories or ())}
            for f in spec.features
            if f.type == "categorical"
        }

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns a batch needs: the spec's features, in its order."""
        return self.spec.feature_names

    def check_schema(self, schema: pa.Schema, *, source: str) -> None:
        """DataSchemaError naming every feature column that is missing (with the names that
        come close) or of a type its values cannot have."""
        problems: list[Problem] = []
        for feature in self.spec.features:
            if feature.name not in schema.names:
                close = difflib.get_close_matches(feature.name, schema.names, n=3, cutoff=0.6)
                near = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                problems.append(Problem(feature.name, f"column is missing{near}", "missing"))
                continue
            kind = _value_type(schema.field(feature.name).type)
            if not _readable(feature, kind):
                wanted = (
                    "numbers (or text that spells them)"
                    if feature.type == "numeric"
                    else "text (or booleans)"
                    if feature.category_kind == "boolean"
                    else "text (or integers)"
                )
                problems.append(
                    Problem(
                        feature.name,
                        f"is {feature.type} in the spec, but the column holds {kind}; "
                        f"it must hold {wanted}",
                        "wrong_type",
                    )
                )
        if problems:
            raise DataSchemaError(
                f"{source} does not have the features of {self.spec.name} "
                f"({len(problems)} problem(s)):",
                problems=problems,
                hint="Rename or convert those columns so that every feature of the spec is a "
                "column of that name (riskops show <model> lists the features).",
            )

    def encode(self, batch: pa.RecordBatch) -> Encoded:
        """The encoded batch (see :class:`Encoded`); the batch must pass
        :meth:`check_schema`."""
        m = batch.num_rows
        digest = hashlib.sha256()
        digest.update(f"rows {m}\n".encode())
        matrix = np.empty((m, len(self.spec.features)), dtype=np.float64)
        bad = np.zeros(m, dtype=bool)
        columns: list[_Column] = []
        for j, feature in enumerate(self.spec.features):
            array = batch.column(batch.schema.get_field_index(feature.name))
            digest.update(f"{feature.name}\n".encode())
            if feature.type == "numeric":
                column = self._numeric(feature, array, digest)
            else:
                column = self._categorical(feature, array, digest)
            matrix[:, j] = column.encoded
            bad |= column.bad
            columns.append(column)
        rejects: list[Reject] = []
        for i in np.flatnonzero(bad).tolist():
            request = {
                f.name: _value_at(c.values, i)
                for f, c in zip(self.spec.features, columns, strict=True)
            }
            try:
                row = self.serving.encode(request)
            except RequestInvalid as refused:
                rejects.append(
                    Reject(
                        i,
                        "; ".join(str(p) for p in refused.problems),
                        tuple(p.code for p in refused.problems),
                    )
                )
                continue
            matrix[i] = row[0]
            bad[i] = False
        return Encoded(matrix, ~bad, tuple(rejects), "sha256:" + digest.hexdigest())

    def _numeric(self, feature: Feature, array: pa.Array, digest: Any) -> _Column:
        array = _plain(array)
        m = len(array)
        kind = array.type
        wrong = np.zeros(m, dtype=bool)
        values: Any
        if pa.types.is_null(kind):
            numbers = np.full(m, np.nan)
            values = numbers
        elif pa.types.is_boolean(kind):
            present = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            flags = np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            wrong = present
            numbers = np.full(m, np.nan)
            values = np.array(array.to_pylist(), dtype=object)
            digest.update(np.packbits(flags).tobytes())
        elif _is_text(kind):
            numbers, text_bad, values = _numbers_from_text(array)
            wrong = text_bad
        else:
            numbers = np.asarray(
                pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
            )
            values = numbers
        if not pa.types.is_boolean(kind):
            digest.update(numbers.tobytes())
            digest.update(np.packbits(wrong).tobytes())
        with np.errstate(invalid="ignore"):
            missing = np.isnan(numbers) & ~wrong
            bad = wrong | np.isinf(numbers)
            if not feature.allow_missing:
                bad |= missing
            if feature.min is not None:
                bad |= numbers < feature.min
            if feature.max is not None:
                bad |= numbers > feature.max
        encoded = numbers.copy()
        encoded[bad] = np.nan
        return _Column(encoded, bad, values)

    def _categorical(self, feature: Feature, array: pa.Array, digest: Any) -> _Column:
        array = _plain(array, keep_dictionary=True)
        m = len(array)
        if pa.types.is_null(array.type):
            encoded = np.full(m, np.nan)
            bad = np.full(m, not feature.allow_missing)
            digest.update(b"null")
            return _Column(encoded, bad, np.full(m, None, dtype=object))
        if not pa.types.is_dictionary(array.type):
            if pa.types.is_boolean(array.type):
                # Arrow spells a boolean 'true'; the spec's text of a boolean code is 'True'.
                array = pc.if_else(array, "True", "False")
            elif not _is_text(array.type):
                array = pc.cast(array, pa.string())
            array = array.dictionary_encode()
        texts = array.dictionary.to_pylist()
        codes = self._codes[feature.name]
        lookup = np.array([codes.get(t, math.nan) for t in texts] + [math.nan])
        unknown = np.array([t not in codes for t in texts] + [False])
        indices = array.indices.fill_null(len(texts)).to_numpy(zero_copy_only=False)
        indices = np.asarray(indices, dtype=np.int64)
        null = indices == len(texts)
        digest.update("\x1f".join(str(t) for t in texts).encode())
        digest.update(indices.tobytes())
        encoded = lookup[indices]
        bad = np.zeros(m, dtype=bool)
        if self.unknown_category == "reject":
            bad |= unknown[indices]
        if not feature.allow_missing:
            bad |= null
        named = np.array([*texts, None], dtype=object)
        return _Column(encoded, bad, lambda i: named[indices[i]])


def _numbers_from_text(array: pa.Array) -> tuple[np.ndarray, np.ndarray, Any]:
    """The numbers a text column spells (NaN where it is null or spells none), which of its
    rows spell none, and the request values (the number, else the text)."""
    try:
        numbers = np.asarray(
            pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        return numbers, np.zeros(len(array), dtype=bool), numbers
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Some text is not a number: parse each distinct text on its own, as Arrow would.
    encoded = array.dictionary_encode()
    texts = encoded.dictionary.to_pylist()
    parsed = np.full(len(texts) + 1, np.nan)
    spells = np.ones(len(texts) + 1, dtype=bool)
    for k, text in enumerate(texts):
        try:
            parsed[k] = pc.cast(pa.array([text], pa.string()), pa.float64())[0].as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            spells[k] = False
    indices = np.asarray(
        encoded.indices.fill_null(len(texts)).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    numbers = parsed[indices]
    not_numbers = ~spells[indices]
    raw = np.array([*texts, None], dtype=object)

    def value(i: int) -> object:
        return raw[indices[i]] if not_numbers[i] else numbers[i]

    return numbers, not_numbers, value


def _value_at(values: Any, i: int) -> object:
    """A feature's value in row ``i`` as a request carries it (None for a missing value)."""
    value = values(i) if callable(values) else values[i]
    if isinstance(value, np.floating):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _plain(array: pa.Array | pa.ChunkedArray, *, keep_dictionary: bool = False) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type) and not (
        keep_dictionary and _is_text(array.type.value_type)
    ):
        array = array.cast(array.type.value_type)
    return array


def _value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _readable(feature: Feature, kind: pa.DataType) -> bool:
    if pa.types.is_null(kind) or _is_text(kind):
        return True
    if feature.type == "numeric":
        return bool(
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
            or pa.types.is_boolean(kind)
        )
    if feature.category_kind == "boolean":
        return bool(pa.types.is_boolean(kind))
    return bool(pa.types.is_integer(kind))
