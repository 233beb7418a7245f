"""The reference profile of a model version: frozen bins for each feature and the score, fitted
once at registration from the training rows, with the training rows' counts over those bins.

Every monitoring engine (the aggregates kept while serving, files, Spark) bins rows against
these same edges, so a statistic never moves because a window's own data moved its bins, and
windows merge by adding counts.

Bin layout of one row of counts (``width`` = the longest row; shorter rows are padded with 0):

* numeric feature or the score (:class:`NumericBins`): ``[0]`` missing or non-finite
  (``None``, NaN, ±inf), ``[1]`` underflow (``x < fine_edges[0]``), ``[2 … L]`` the ``L − 1``
  interior fine bins ``[fine_edges[j − 2], fine_edges[j − 1])``, ``[L + 1]`` overflow
  (``x ≥ fine_edges[-1]``), with ``L = len(fine_edges)``. For a finite ``x`` the bin is
  ``searchsorted(fine_edges, x, side="right") + 1``.
* categorical feature (:class:`CategoricalBins`): ``[0]`` missing, ``[1 … k]`` the spec's
  categories in spec order, ``[k + 1]`` unseen (a value outside the list; its text is never
  kept). A value is matched by its text as ``str()`` writes it, as the training data is typed
  (:func:`riskops.datasets.encoding.typed_frame`): ``True`` is the category ``"True"``, ``3``
  the category ``"3"``.

Fitting (:func:`fit_profile`), numeric:

* the coarse (PSI/CSI) cut points are the ``k / coarse_bins`` quantiles of the finite
  reference values, inverted-CDF (Hyndman & Fan 1996, type 1, as
  :mod:`riskops.statistics.stability`), tied quantiles merged. Each cut point is stored as the
  next float above the quantile, ``nextafter(q, +inf)``: bins are closed on the left
  (``[c_i, c_{i+1})``), so a value equal to ``q`` stays in the bin below it, exactly the
  ``(q_i, q_{i+1}]`` bins of the validation gate's PSI, and coarse counts equal its counts;
* the fine grid runs from the reference minimum to ``nextafter(max, +inf)`` (so the maximum is
  an interior value and overflow means "above anything seen in training"); each coarse bin is
  cut into equal-width sub-bins, about ``fine_bins`` in all, so every coarse edge is a fine edge
  and coarse counts are sums of fine counts (:meth:`ReferenceProfile.coarse`).

The profile serialises to canonical JSON (sorted keys, no whitespace, floats written in their
shortest exact form so they read back bit for bit); :meth:`ReferenceProfile.sha256` is the
SHA-256 of that document and is recorded with the version.

Example::

    profile = fit_profile("credit-scoring", 3, spec, columns, scores)
    bins = profile.bin_columns(window_columns, window_scores)   # int32 (F + 1, n)
    counts = profile.count(bins)                                # int64 (F + 1, width)
    profile.coarse(counts)                                      # PSI bins
"""

from __future__ import annotations

import hashlib
import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import orjson

from riskops.errors import InputError, IntegrityError
from riskops.spec import ModelSpec

KIND: Final = "riskops.profile/reference@1"
FILE_NAME: Final = "reference_profile.json"
MAX_FINE_BINS: Final = 4096
MAX_MAGNITUDE: Final = 1e300  # reference values beyond it would overflow the bins' widths


@dataclass(frozen=True)
class NumericBins:
    """The bins of one numeric feature (or the score): coarse PSI cut points nested in a fine
    grid. See the module docstring for the count layout."""

    name: str
    coarse_edges: tuple[float, ...]
    fine_edges: tuple[float, ...]

    @property
    def size(self) -> int:
        """Bins in this row: missing, underflow, the interior fine bins, overflow."""
        return len(self.fine_edges) + 2

    @property
    def coarse_size(self) -> int:
        """Bins in this row after :meth:`ReferenceProfile.coarse`: missing, then the coarse bins."""
        return len(self.coarse_edges) + 2

    def coarse_boundaries(self) -> list[int]:
        """Fine-bin indices where each coarse bin starts, then the row's end: coarse bin ``j``
        sums fine bins ``[b[j], b[j + 1])``. Underflow joins the first coarse bin, overflow the
        last (which is overflow alone when the last cut is the last fine edge)."""
        positions = {edge: i for i, edge in enumerate(self.fine_edges)}
        inner = [positions[edge] + 2 for edge in self.coarse_edges]
        return [0, 1, *inner, self.size]


@dataclass(frozen=True)
class CategoricalBins:
    """The bins of one categorical feature: missing, the spec's categories, unseen."""

    name: str
    categories: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.categories) + 2

    @property
    def coarse_size(self) -> int:
        return self.size

    def coarse_boundaries(self) -> list[int]:
        return list(range(self.size + 1))


Bins = NumericBins | CategoricalBins


def _category_key(value: object) -> str | None:
    """The text a raw value is matched by, None for a missing one (None, NaN)."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)  # np.str_ → str
    if isinstance(value, (float, np.floating)) and value != value:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _numeric_value(value: object) -> float | None:
    """A finite float, or None for anything that counts as missing (None, NaN, ±inf, not a
    number: text is not a number here, even when it reads as one)."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if number - number != 0.0:  # NaN or ±inf
        return None
    return number


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """Frozen bins of one model version and its training rows' counts over them.

    Two profiles are equal when their canonical JSON is (arrays do not compare as a whole).

    ``reference`` is int64 ``(len(features) + 1, width)``, the score last; ``moments`` is
    float64 ``(len(features) + 1, 5)``: n, mean, M2 (sum of squared deviations), min, max of
    the finite values (NaN for a categorical feature).
    """

    model: str
    version: int
    features: tuple[Bins, ...]
    score: NumericBins
    reference: np.ndarray
    n: int
    moments: np.ndarray
    width: int = field(init=False)
    _row_plan: tuple[tuple[bool, str, Any], ...] = field(init=False, repr=False, compare=False)
    _sizes: np.ndarray = field(init=False, repr=False, compare=False)
    _boundaries: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = self.rows
        width = max(b.size for b in rows)
        object.__setattr__(self, "width", width)
        plan = tuple(
            (True, b.name, b.fine_edges)
            if isinstance(b, NumericBins)
            else (False, b.name, {c: i + 1 for i, c in enumerate(b.categories)})
            for b in self.features
        )
        object.__setattr__(self, "_row_plan", plan)
        object.__setattr__(self, "_sizes", np.array([b.size for b in rows], dtype=np.int64))
        coarse_width = max(b.coarse_size for b in rows)
        boundaries = np.empty((len(rows), coarse_width + 1), dtype=np.intp)
        for r, b in enumerate(rows):
            found = b.coarse_boundaries()
            boundaries[r, : len(found)] = found
            boundaries[r, len(found) :] = found[-1]
        object.__setattr__(self, "_boundaries", boundaries)
        expected = (len(rows), width)
        if self.reference.shape != expected or self.reference.dtype != np.int64:
            raise IntegrityError(
                f"The reference counts of {self.model}@{self.version} are "
                f"{self.reference.dtype}{self.reference.shape}, not int64{expected}."
            )
        if self.moments.shape != (len(rows), 5):
            raise IntegrityError(
                f"The moments of {self.model}@{self.version} have shape {self.moments.shape}, "
                f"not {(len(rows), 5)}."
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReferenceProfile):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def rows(self) -> tuple[Bins, ...]:
        """The features in spec order, then the score: one row of counts each."""
        return (*self.features, self.score)

    @property
    def coarse_width(self) -> int:
        return int(self._boundaries.shape[1] - 1)

    # -- binning ---------------------------------------------------------------------------

    def bin_row(self, features: Mapping[str, object], score: float) -> np.ndarray:
        """int32 ``(F + 1,)``: the bin of each feature of one subject, then of its score.

        Plain ``bisect`` on a tuple and a dict lookup per feature: this runs once per decision.
        An absent feature counts as missing.
        """
        out: list[int] = []
        append = out.append
        get = features.get
        for numeric, name, table in self._row_plan:
            value = get(name)
            if numeric:
                if type(value) is float and value - value == 0.0:
                    append(bisect_right(table, value) + 1)
                    continue
                number = _numeric_value(value)
                append(0 if number is None else bisect_right(table, number) + 1)
            else:
                try:
                    code = table.get(value) if type(value) is str else None
                except TypeError:
                    code = None
                if code is None:
                    key = _category_key(value) if _hashable(value) else ""
                    code = 0 if key is None else table.get(key, len(table) + 1)
                append(code)
        number = _numeric_value(score)
        append(0 if number is None else bisect_right(self.score.fine_edges, number) + 1)
        return np.array(out, dtype=np.int32)

    def bin_columns(self, columns: Mapping[str, np.ndarray], score: np.ndarray) -> np.ndarray:
        """int32 ``(F + 1, n)``: :meth:`bin_row` of every row at once, vectorised per column."""
        scores = np.asarray(score)
        if scores.ndim != 1:
            raise InputError(
                f"The scores must be one column, not an array of shape {scores.shape}."
            )
        n = scores.shape[0]
        out = np.empty((len(self.features) + 1, n), dtype=np.int32)
        for r, bins in enumerate(self.features):
            if bins.name not in columns:
                raise InputError(
                    f"The columns have no feature {bins.name!r}; the profile of "
                    f"{self.model}@{self.version} bins {', '.join(b.name for b in self.features)}.",
                    hint="Pass every feature of the model's spec, by its spec name.",
                )
            column = np.asarray(columns[bins.name])
            if column.shape != (n,):
                raise InputError(
                    f"The column {bins.name!r} has shape {column.shape}; every column must hold "
                    f"one value per score ({n})."
                )
            if isinstance(bins, NumericBins):
                out[r] = _bin_numeric(bins.fine_edges, column)
            else:
                out[r] = _bin_categorical(bins.categories, column)
        out[-1] = _bin_numeric(self.score.fine_edges, scores)
        return out

    # -- counting --------------------------------------------------------------------------

    def count(self, bins: np.ndarray) -> np.ndarray:
        """int64 ``(F + 1, width)``: how many values fell in each bin of each row.

        One ``np.bincount`` over ``row * width + bin``. ``bins`` is :meth:`bin_columns`'
        ``(F + 1, n)`` or one :meth:`bin_row` ``(F + 1,)``.
        """
        array = np.asarray(bins)
        rows = len(self.features) + 1
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2 or array.shape[0] != rows or not np.issubdtype(array.dtype, np.integer):
            raise InputError(
                f"Bins must be integers of shape ({rows}, n), one row per feature and the "
                f"score; got {array.dtype}{array.shape}."
            )
        if array.size and (
            (array.min(axis=1) < 0).any() or (array.max(axis=1) >= self._sizes).any()
        ):
            raise InputError(
                "A bin lies outside its row's bins; bins come from this profile's "
                "bin_row/bin_columns, not another version's."
            )
        offsets = np.arange(rows, dtype=np.int64)[:, None] * self.width
        flat = np.add(array, offsets, dtype=np.int64).ravel()
        counted = np.bincount(flat, minlength=rows * self.width)
        return counted.astype(np.int64, copy=False).reshape(rows, self.width)

    def coarse(self, counts: np.ndarray) -> np.ndarray:
        """int64 ``(..., F + 1, coarse_width)``: fine counts summed into the PSI/CSI bins —
        numeric rows become ``[missing, coarse bins …]`` (underflow joins the first, overflow
        the last), categorical rows stay as they are; rows are padded with zeros."""
        array = np.asarray(counts)
        rows = len(self.features) + 1
        if array.ndim < 2 or array.shape[-2:] != (rows, self.width):
            raise InputError(
                f"Counts must have shape (..., {rows}, {self.width}) for "
                f"{self.model}@{self.version}; got {array.shape}."
            )
        array = array.astype(np.int64, copy=False)
        lead = array.shape[:-2]
        cumulative = np.zeros((*lead, rows, self.width + 1), dtype=np.int64)
        np.cumsum(array, axis=-1, out=cumulative[..., 1:])
        index = np.broadcast_to(self._boundaries, (*lead, *self._boundaries.shape))
        ends = np.take_along_axis(cumulative, index[..., 1:], axis=-1)
        starts = np.take_along_axis(cumulative, index[..., :-1], axis=-1)
        result: np.ndarray = ends - starts
        return result

    def ordered_edges(
        self, low: np.ndarray | None = None, high: np.ndarray | None = None
    ) -> np.ndarray:
        """float64 ``(F + 1, width)``: the edges of each row's ordered bins (all but missing,
        ``counts[:, 1:]``), for KS and Wasserstein-1 from counts.

        A numeric row's bins are underflow, the fine bins and overflow, so its edges are
        ``[low, fine_edges…, high]``, padded by repeating ``high``. Underflow and overflow have
        no width of their own: ``low`` and ``high`` (one per row, e.g. the window's min and
        max from its moments) give them one; by default they have none, which keeps the
        distance's bound only when nothing fell outside the reference range. A categorical row
        has no order: its edges are all 0.
        """
        rows = self.rows
        out = np.zeros((len(rows), self.width), dtype=np.float64)
        for r, bins in enumerate(rows):
            if not isinstance(bins, NumericBins):
                continue
            first, last = bins.fine_edges[0], bins.fine_edges[-1]
            below = first if low is None or not np.isfinite(low[r]) else min(first, low[r])
            above = last if high is None or not np.isfinite(high[r]) else max(last, high[r])
            size = len(bins.fine_edges)
            out[r, 0] = below
            out[r, 1 : size + 1] = bins.fine_edges
            out[r, size + 1 :] = above
        return out

    # -- serialisation ---------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, each row's counts without padding."""
        document = {
            "kind": KIND,
            "model": self.model,
            "version": self.version,
            "n": self.n,
            "features": [_bins_document(b) for b in self.features],
            "score": _bins_document(self.score),
            "reference": [self.reference[r, : b.size].tolist() for r, b in enumerate(self.rows)],
            "moments": [[None if math.isnan(v) else float(v) for v in row] for row in self.moments],
        }
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)

    def sha256(self) -> str:
        """``sha256:<hex>`` of :meth:`to_json`, the hash recorded with the version."""
        return "sha256:" + hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, data: bytes) -> ReferenceProfile:
        """The profile :meth:`to_json` wrote; IntegrityError naming what is damaged, InputError
        for a document of another kind or version."""
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise IntegrityError(
                f"The reference profile is not valid JSON ({exc}); it is damaged.",
                hint=_REREGISTER,
            ) from exc
        if not isinstance(document, dict):
            raise IntegrityError("The reference profile is not a JSON object.", hint=_REREGISTER)
        kind = document.get("kind")
        if kind != KIND:
            raise InputError(
                f"The document is a {kind!r}, not a {KIND!r}: this riskops reads reference "
                "profiles of that kind only.",
                hint="Use the riskops release that wrote it, or retrain and re-register the "
                "version to write a current profile.",
            )
        try:
            return _parse(document)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise IntegrityError(
                f"The reference profile is damaged: {exc}", hint=_REREGISTER
            ) from exc


_REREGISTER = "Retrain and register the version again to write a new reference profile."


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _bin_numeric(edges: tuple[float, ...], column: np.ndarray) -> np.ndarray:
    if column.dtype.kind in "fiub":
        values = column.astype(np.float64)
    else:
        converted = [_numeric_value(v) for v in column.tolist()]
        values = np.array([math.nan if v is None else v for v in converted], dtype=np.float64)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right") + 1
    bins[~np.isfinite(values)] = 0
    return bins


def _bin_categorical(categories: tuple[str, ...], column: np.ndarray) -> np.ndarray:
    table = {c: i + 1 for i, c in enumerate(categories)}
    unseen = len(categories) + 1

    def code(value: object) -> int:
        key = _category_key(value) if _hashable(value) else ""
        return 0 if key is None else table.get(key, unseen)

    if column.dtype.kind == "O":
        items = column.tolist()
        try:
            # One dict lookup per value; what it does not find as text goes the long way.
            found = list(map(table.get, items))
        except TypeError:  # an unhashable value
            found = [None] * len(items)
        return np.fromiter(
            (c if c is not None else code(v) for c, v in zip(found, items, strict=True)),
            dtype=np.int32,
            count=len(items),
        )
    if column.dtype.kind not in "biuU":
        # Floats go value by value (np.unique merges -0.0 with 0.0, whose texts differ), and
        # so do bytes, whose text is their repr as for one value.
        return np.fromiter((code(v) for v in column.tolist()), dtype=np.int32, count=len(column))
    if column.dtype.kind == "U":
        # Text: a binary search among the sorted categories, then an equality check.
        order = sorted(range(len(categories)), key=lambda i: categories[i])
        ordered = np.array([categories[i] for i in order], dtype=str)
        position = np.minimum(np.searchsorted(ordered, column), len(categories) - 1)
        matched = ordered[position] == column
        codes = np.array(order, dtype=np.int32)[position] + 1
        return np.where(matched, codes, np.int32(unseen)).astype(np.int32)
    # A column of integers or booleans: look up each distinct value once.
    distinct, inverse = np.unique(column, return_inverse=True)
    return np.array([code(v) for v in distinct], dtype=np.int32)[inverse.reshape(-1)]


def _bins_document(bins: Bins) -> dict[str, Any]:
    if isinstance(bins, NumericBins):
        return {
            "name": bins.name,
            "type": "numeric",
            "coarse_edges": list(bins.coarse_edges),
            "fine_edges": list(bins.fine_edges),
        }
    return {"name": bins.name, "type": "categorical", "categories": list(bins.categories)}


def _parse_bins(document: Mapping[str, Any]) -> Bins:
    name = document["name"]
    if not isinstance(name, str):
        raise TypeError(f"a feature name is {type(name).__name__}, not text")
    if document["type"] == "categorical":
        categories = tuple(document["categories"])
        if not categories or not all(isinstance(c, str) for c in categories):
            raise ValueError(f"the categories of {name!r} are not a list of text")
        return CategoricalBins(name, categories)
    if document["type"] != "numeric":
        raise ValueError(f"feature {name!r} has type {document['type']!r}")
    fine = tuple(float(v) for v in document["fine_edges"])
    coarse = tuple(float(v) for v in document["coarse_edges"])
    if len(fine) < 2 or any(not math.isfinite(v) for v in fine):
        raise ValueError(f"the fine edges of {name!r} are not at least two finite numbers")
    if any(b <= a for a, b in itertools.pairwise(fine)):
        raise ValueError(f"the fine edges of {name!r} do not increase")
    if not set(coarse) <= set(fine[1:]) or list(coarse) != sorted(set(coarse)):
        raise ValueError(f"the coarse edges of {name!r} are not increasing fine edges")
    return NumericBins(name, coarse, fine)


def _parse(document: Mapping[str, Any]) -> ReferenceProfile:
    features = tuple(_parse_bins(f) for f in document["features"])
    score = _parse_bins(document["score"])
    if not isinstance(score, NumericBins):
        raise ValueError("the score's bins are not numeric")
    rows = (*features, score)
    n = document["n"]
    version = document["version"]
    model = document["model"]
    if type(n) is not int or type(version) is not int or not isinstance(model, str):
        raise TypeError("'model', 'version' or 'n' has the wrong type")
    counts = document["reference"]
    if len(counts) != len(rows):
        raise ValueError(f"{len(counts)} rows of reference counts for {len(rows)} bins")
    width = max(b.size for b in rows)
    reference = np.zeros((len(rows), width), dtype=np.int64)
    for r, (bins, row) in enumerate(zip(rows, counts, strict=True)):
        if len(row) != bins.size or not all(type(v) is int and v >= 0 for v in row):
            raise ValueError(f"the reference counts of {bins.name!r} are not {bins.size} counts")
        if sum(row) != n:
            raise ValueError(f"the reference counts of {bins.name!r} add to {sum(row)}, not {n}")
        reference[r, : bins.size] = row
    moments = np.array(
        [[math.nan if v is None else float(v) for v in row] for row in document["moments"]],
        dtype=np.float64,
    )
    if moments.shape != (len(rows), 5):
        raise ValueError(f"the moments have shape {moments.shape}, not {(len(rows), 5)}")
    return ReferenceProfile(model, version, features, score, reference, n, moments)


# -- fitting ---------------------------------------------------------------------------------


def _numeric_bins(name: str, finite: np.ndarray, coarse_bins: int, fine_bins: int) -> NumericBins:
    """The bins of one numeric row from its finite reference values, sorted ascending."""
    if finite.size == 0:
        raise InputError(
            f"The feature {name!r} has no finite value in the reference rows, so it has no "
            "range to bin.",
            hint="Check the training data: the column is empty or all missing.",
        )
    if finite[0] <= -MAX_MAGNITUDE or finite[-1] >= MAX_MAGNITUDE:
        raise InputError(
            f"The feature {name!r} holds values beyond ±{MAX_MAGNITUDE:g} in the reference rows "
            f"(from {finite[0]:g} to {finite[-1]:g}); bins that wide overflow a double.",
            hint="Check the training data for sentinel values (such as 1e308 for unknown): "
            "send them as missing, or rescale the feature.",
        )
    low = float(finite[0])
    high = float(np.nextafter(finite[-1], np.inf))
    quantiles = np.quantile(finite, np.arange(1, coarse_bins) / coarse_bins, method="inverted_cdf")
    coarse = np.unique(np.nextafter(quantiles, np.inf))
    # A quantile equal to the maximum gives the cut ``high`` itself: its coarse bin is the
    # overflow bin, values above anything seen in training (the gate's ``(max, inf)`` bin).
    stops = np.unique(np.concatenate([[low], coarse, [high]]))
    per = max(1, fine_bins // (len(stops) - 1))
    pieces = [np.linspace(a, b, per + 1)[:-1] for a, b in itertools.pairwise(stops)]
    # linspace keeps both ends exact; equal-width steps of a very narrow bin can round to a
    # repeated float, which unique drops. The coarse edges are pieces' first points.
    fine = np.unique(np.concatenate([*pieces, [high]]))
    return NumericBins(name, tuple(float(c) for c in coarse), tuple(float(e) for e in fine))


def sorted_finite(values: np.ndarray | Sequence[object]) -> np.ndarray:
    """The finite values of a numeric column as float64, sorted ascending (what
    :func:`count_sorted` and :func:`fit_profile`'s ``presorted`` take); NaN, None and
    infinities are left out (they bin as missing)."""
    numbers = _as_float(np.asarray(values))
    return np.sort(numbers[np.isfinite(numbers)])


def count_sorted(bins: NumericBins, finite: np.ndarray, missing: int, width: int) -> np.ndarray:
    """int64 ``(width,)``: the counts of one numeric row, equal to counting the bins
    :meth:`ReferenceProfile.bin_columns` gives its values, from the finite values sorted
    ascending and the number of missing ones (NaN, None, infinities).

    A value's bin is ``searchsorted(edges, x, side="right") + 1``, so the values below edge
    ``j`` are exactly those in bins before ``j + 2``: one binary search per edge among the
    sorted values (``O(edges · log n)``) instead of one per value among the edges.
    """
    edges = np.asarray(bins.fine_edges, dtype=np.float64)
    below = np.searchsorted(finite, edges, side="left")
    out = np.zeros(width, dtype=np.int64)
    out[0] = missing
    out[1 : len(edges) + 2] = np.diff(below, prepend=0, append=finite.size)
    return out


def _moments(values: np.ndarray) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [0.0, math.nan, math.nan, math.nan, math.nan]
    # Values near the float64 limit overflow the sums: such a moment is infinite, written
    # as null (unknown) like a categorical row's.
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(finite.mean())
        m2 = float(np.sum((finite - mean) ** 2))
    return [float(finite.size), mean, m2, float(finite.min()), float(finite.max())]


def _as_float(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind in "fiub":
        return column.astype(np.float64)
    converted = [_numeric_value(v) for v in column.tolist()]
    return np.array([math.nan if v is None else v for v in converted], dtype=np.float64)


def fit_profile(
    model: str,
    version: int,
    spec: ModelSpec,
    columns: Mapping[str, np.ndarray | Sequence[object]],
    score: np.ndarray | Sequence[float],
    *,
    coarse_bins: int = 10,
    fine_bins: int = 512,
    presorted: Mapping[str, np.ndarray] | None = None,
) -> ReferenceProfile:
    """Fit the bins of ``spec``'s features and of the score to the reference rows (the
    training split and the model's scores on it) and count those rows over them.

    ``presorted`` may give numeric columns' :func:`sorted_finite` values, sorted already by
    the caller (a comparison of files sorts them once for its exact statistics too)."""
    if not 2 <= coarse_bins <= 100:
        raise InputError(f"coarse_bins is {coarse_bins}; it must lie in 2..100.")
    if not coarse_bins <= fine_bins <= MAX_FINE_BINS:
        raise InputError(
            f"fine_bins is {fine_bins}; it must lie in {coarse_bins}..{MAX_FINE_BINS} "
            "(at least one fine bin per coarse bin)."
        )
    scores = _as_float(np.asarray(score))
    if scores.ndim != 1 or scores.size == 0:
        raise InputError(f"The reference scores must be a non-empty column; got {scores.shape}.")
    n = int(scores.size)
    features: list[Bins] = []
    moments: list[list[float]] = []
    # Per row: the sorted finite values of a numeric one and its missing count, or the bins
    # of a categorical one.
    counted: list[tuple[np.ndarray, int] | np.ndarray] = []
    for feature in spec.features:
        if feature.name not in columns:
            raise InputError(
                f"The reference rows have no column {feature.name!r}, a feature of {model}.",
                hint="Fit the profile on the training split with every feature of the spec.",
            )
        column = np.asarray(columns[feature.name])
        if column.shape != (n,):
            raise InputError(
                f"The column {feature.name!r} has shape {column.shape}; the reference has "
                f"{n} scores."
            )
        if feature.type == "categorical":
            assert feature.categories is not None  # the spec guarantees it
            categories = tuple(feature.categories)
            features.append(CategoricalBins(feature.name, categories))
            moments.append([math.nan] * 5)
            counted.append(_bin_categorical(categories, column))
        else:
            values = _as_float(column)
            given = None if presorted is None else presorted.get(feature.name)
            finite = np.sort(values[np.isfinite(values)]) if given is None else given
            features.append(_numeric_bins(feature.name, finite, coarse_bins, fine_bins))
            moments.append(_moments(values))
            counted.append((finite, n - finite.size))
    finite_scores = np.sort(scores[np.isfinite(scores)])
    score_bins = _numeric_bins("score", finite_scores, coarse_bins, fine_bins)
    moments.append(_moments(scores))
    counted.append((finite_scores, n - finite_scores.size))
    rows = (*features, score_bins)
    width = max(b.size for b in rows)
    reference = np.zeros((len(rows), width), dtype=np.int64)
    for r, (row, held) in enumerate(zip(rows, counted, strict=True)):
        if isinstance(row, NumericBins):
            assert isinstance(held, tuple)
            reference[r] = count_sorted(row, held[0], held[1], width)
        else:
            assert isinstance(held, np.ndarray)
            reference[r] = np.bincount(held, minlength=width)
    return ReferenceProfile(
        model,
        version,
        tuple(features),
        score_bins,
        reference,
        n,
        np.array(moments, dtype=np.float64),
    )
