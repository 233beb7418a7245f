"""``monitor compare``: drift and data quality between two files, every statistic exact.

For a batch population, a new data vintage or a back-test, the rows are at hand, so nothing
needs to be bounded: this compares a reference file (REF) with a current file (CUR) over the
spec's features.

* Binned statistics — PSI/CSI, Jensen–Shannon, Hellinger, chi-square — are computed on the
  PSI bins (reference quantiles plus a missing bin; categories plus missing and unseen) of a
  :class:`~riskops.profiles.profile.ReferenceProfile`: one fitted on REF, or a registered
  version's profile when one is given, so that the numbers are those the version's monitoring
  reports. Both files are counted against the same frozen bins.
* KS and Wasserstein-1 are computed on the raw finite values (exact, not from bins; both from
  one merge of the sorted samples, :mod:`riskops.statistics.two_sample`); the Wasserstein
  distance is also given normed by the reference's standard deviation.
* Data quality of the current file: missing (or non-finite) rate, out-of-range rate against
  the spec's ``min``/``max``, unseen-category rate.
* Multivariate drift: a domain classifier (:mod:`riskops.monitoring.multivariate`) on a fixed-
  seed subsample.

Example::

    result = compare_files("ref.parquet", "cur.parquet", load_spec("model.yaml").spec)
    result.features[0].psi, result.multivariate.auc
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from riskops.errors import InputError, MissingExtraError
from riskops.monitoring.multivariate import MAX_ROWS, DomainClassifierResult, domain_classifier
from riskops.profiles.profile import (
    CategoricalBins,
    NumericBins,
    ReferenceProfile,
    count_sorted,
    fit_profile,
    sorted_finite,
)
from riskops.spec import ModelSpec
from riskops.statistics import drift
from riskops.statistics.two_sample import ks_wasserstein

if TYPE_CHECKING:
    from riskops.monitoring.frames import Frame

KIND = "riskops.monitoring/compare@1"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift and data quality, REF against CUR (rates are shares of rows)."""

    feature: str
    type: str
    psi: float
    jensen_shannon: float
    hellinger: float
    chi_square: float
    chi_square_dof: int
    chi_square_p: float
    missing_reference: float
    missing_current: float
    out_of_range_current: float | None = None
    unseen_current: float | None = None
    ks: float | None = None
    ks_p: float | None = None
    wasserstein: float | None = None
    wasserstein_normed: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_files`: a frozen, serialisable record."""

    reference: str
    current: str
    reference_rows: int
    current_rows: int
    profile: str
    profile_sha256: str
    features: tuple[FeatureDrift, ...]
    multivariate: DomainClassifierResult | None
    seconds: dict[str, float] = field(default_factory=dict)
    kind: str = KIND

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["multivariate"] = None if self.multivariate is None else self.multivariate.as_dict()
        return body


def compare_files(
    reference: Path | str,
    current: Path | str,
    spec: ModelSpec,
    *,
    profile: ReferenceProfile | None = None,
    multivariate: bool = True,
    classifier_rows: int = MAX_ROWS,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Compare the spec's features of two Parquet/CSV files (see the module docstring).

    ``profile`` is a registered version's reference profile; without one, a profile is fitted
    on REF. ``progress`` receives one line per step (the CLI prints them).
    """
    say = progress or (lambda _message: None)
    try:
        from riskops.monitoring.frames import read_frame
    except ModuleNotFoundError as error:
        if error.name != "pyarrow" and not (error.name or "").startswith("pyarrow."):
            raise
        raise MissingExtraError("Comparing files", "pyarrow", "parquet") from None
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    say(f"reading {reference}")
    ref = read_frame(reference, spec)
    say(f"reading {current}")
    cur = read_frame(current, spec)
    for frame in (ref, cur):
        if frame.rows == 0:
            raise InputError(
                f"{frame.path} has no rows.", hint="Compare files that hold at least one row."
            )
    seconds["read"] = time.perf_counter() - started

    mark = time.perf_counter()
    # Each numeric column is sorted once, one column per core (numpy's sort releases the
    # interpreter lock): the profile's quantiles, every fine-bin count and the exact KS and
    # Wasserstein all read the same sorted values.
    numeric = [f.name for f in spec.features if f.type != "categorical"]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ref_sorted = dict(
            zip(numeric, pool.map(lambda n: sorted_finite(ref.columns[n]), numeric), strict=True)
        )
        cur_sorted = dict(
            zip(numeric, pool.map(lambda n: sorted_finite(cur.columns[n]), numeric), strict=True)
        )
    if profile is None:
        # A file carries no score: the profile's score row is fitted on a placeholder and not
        # reported; only the feature rows are compared.
        profile = fit_profile(
            spec.name, 0, spec, ref.columns, np.zeros(ref.rows), presorted=ref_sorted
        )
        ref_counts = profile.reference
        source = f"fitted on {ref.path.name}"
    else:
        _check_profile(profile, spec)
        ref_counts = count_frame(profile, ref, ref_sorted)
        source = f"{profile.model}@{profile.version}"
    cur_counts = count_frame(profile, cur, cur_sorted)
    seconds["bin_and_count"] = time.perf_counter() - mark

    mark = time.perf_counter()
    say("computing drift statistics")
    features = _feature_drift(
        profile, spec, ref, cur, ref_counts, cur_counts, ref_sorted, cur_sorted
    )
    seconds["statistics"] = time.perf_counter() - mark

    result: DomainClassifierResult | None = None
    if multivariate:
        mark = time.perf_counter()
        say(f"domain classifier on at most {classifier_rows:,} rows per file (seeded subsample)")
        result = domain_classifier(ref.columns, cur.columns, spec, max_rows=classifier_rows)
        seconds["multivariate"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    return Comparison(
        reference=str(ref.path),
        current=str(cur.path),
        reference_rows=ref.rows,
        current_rows=cur.rows,
        profile=source,
        profile_sha256=profile.sha256(),
        features=features,
        multivariate=result,
        seconds=seconds,
    )


def bin_frame(profile: ReferenceProfile, frame: Frame) -> np.ndarray:
    """int32 ``(F + 1, n)``: ``profile.bin_columns`` of the frame (score row: missing).

    Equal to ``profile.bin_columns(frame.columns, nan)``, but a categorical column is binned
    through its dictionary: the profile bins each distinct text once and the rows take their
    distinct value's bin, instead of the profile looking every row's text up.
    """
    n = frame.rows
    placeholder = np.zeros(n, dtype=np.int8)
    columns = {
        name: (placeholder if name in frame.codes else values)
        for name, values in frame.columns.items()
    }
    bins: np.ndarray = profile.bin_columns(columns, np.full(n, np.nan))
    if not frame.codes:
        return bins
    # One small bin_columns call over the distinct texts of every categorical column; the last
    # entry of each is None, which code -1 (missing) picks.
    size = max(len(values) for _, values in frame.codes.values()) + 1
    distinct: dict[str, np.ndarray] = {}
    for bins_of in profile.features:
        if bins_of.name in frame.codes:
            values = frame.codes[bins_of.name][1]
            padded = np.full(size, None, dtype=object)
            padded[: len(values)] = values
            distinct[bins_of.name] = padded
        else:
            distinct[bins_of.name] = np.full(size, np.nan)
    lookup = profile.bin_columns(distinct, np.full(size, np.nan))
    for r, bins_of in enumerate(profile.features):
        if bins_of.name in frame.codes:
            bins[r] = lookup[r][frame.codes[bins_of.name][0]]
    result: np.ndarray = bins
    return result


def count_frame(
    profile: ReferenceProfile, frame: Frame, finite: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """int64 ``(F + 1, width)``: ``profile.count(bin_frame(profile, frame))``, without binning
    every value: a numeric row is counted from its sorted finite values
    (:func:`riskops.profiles.profile.count_sorted`; ``finite`` may hold them, sorted by the
    caller), a categorical row through the file's dictionary (each distinct text binned once).
    The score row counts every row as missing (a file has no score)."""
    n = frame.rows
    width = profile.width
    counts = np.zeros((len(profile.rows), width), dtype=np.int64)
    lookups: dict[str, np.ndarray] = {}
    if frame.codes:
        size = max(len(values) for _, values in frame.codes.values()) + 1
        distinct: dict[str, np.ndarray] = {}
        for bins in profile.features:
            padded: np.ndarray = np.full(size, np.nan)
            if bins.name in frame.codes:
                values = frame.codes[bins.name][1]
                padded = np.full(size, None, dtype=object)
                padded[: len(values)] = values  # the last stays None: code -1 (missing)
            distinct[bins.name] = padded
        looked_up = profile.bin_columns(distinct, np.full(size, np.nan))
        for r, bins in enumerate(profile.features):
            if bins.name in frame.codes:
                lookups[bins.name] = looked_up[r]
    for r, bins in enumerate(profile.features):
        if isinstance(bins, NumericBins):
            given = None if finite is None else finite.get(bins.name)
            held = sorted_finite(frame.columns[bins.name]) if given is None else given
            counts[r] = count_sorted(bins, held, n - held.size, width)
        elif bins.name in lookups:
            # Code -1 (missing) indexes the lookup's last entry, the bin of None.
            row = lookups[bins.name][frame.codes[bins.name][0]]
            counts[r] = np.bincount(row, minlength=width)
        else:
            counts[r] = profile.count(
                profile.bin_columns(
                    {
                        b.name: frame.columns[b.name] if b is bins else np.zeros(n, np.int8)
                        for b in profile.features
                    },
                    np.full(n, np.nan),
                )
            )[r]
    counts[-1, 0] = n
    return counts


def _check_profile(profile: ReferenceProfile, spec: ModelSpec) -> None:
    names = tuple(b.name for b in profile.features)
    if names != spec.feature_names:
        raise InputError(
            f"The profile of {profile.model}@{profile.version} bins {', '.join(names)}; "
            f"the spec has {', '.join(spec.feature_names)}.",
            hint="Pass the spec the version was trained with.",
        )


def _feature_drift(
    profile: ReferenceProfile,
    spec: ModelSpec,
    ref: Frame,
    cur: Frame,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    ref_sorted: dict[str, np.ndarray],
    cur_sorted: dict[str, np.ndarray],
) -> tuple[FeatureDrift, ...]:
    features = len(profile.features)
    ref_coarse = profile.coarse(ref_counts)[:features]
    cur_coarse = profile.coarse(cur_counts)[:features]
    psi = drift.psi(ref_coarse, cur_coarse)
    js = drift.jensen_shannon(ref_coarse, cur_coarse)
    hellinger = drift.hellinger(ref_coarse, cur_coarse)
    chi2, dof, p_value = drift.chi_square(ref_coarse, cur_coarse)
    numeric = [b.name for b in profile.features if isinstance(b, NumericBins)]
    # The sorts and merges release the interpreter lock: one column per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        raw = dict(
            zip(
                numeric,
                pool.map(
                    lambda name: _raw_distances(ref_sorted[name], cur_sorted[name]),
                    numeric,
                ),
                strict=True,
            )
        )
    out: list[FeatureDrift] = []
    for r, bins in enumerate(profile.features):
        feature = spec.feature(bins.name)
        common: dict[str, Any] = {
            "feature": bins.name,
            "type": feature.type,
            "psi": float(psi[r]),
            "jensen_shannon": float(js[r]),
            "hellinger": float(hellinger[r]),
            "chi_square": float(chi2[r]),
            "chi_square_dof": int(dof[r]),
            "chi_square_p": float(p_value[r]),
            "missing_reference": float(ref_counts[r, 0] / ref.rows),
            "missing_current": float(cur_counts[r, 0] / cur.rows),
        }
        if isinstance(bins, CategoricalBins):
            unseen = int(cur_counts[r, len(bins.categories) + 1])
            out.append(FeatureDrift(**common, unseen_current=unseen / cur.rows))
            continue
        current = cur_sorted[bins.name]
        out.append(
            FeatureDrift(
                **common,
                out_of_range_current=_out_of_range(current, feature.min, feature.max, cur.rows),
                **raw[bins.name],
            )
        )
    return tuple(out)


def _out_of_range(
    values: np.ndarray, low: float | None, high: float | None, rows: int
) -> float | None:
    if low is None and high is None:
        return None
    outside = np.zeros(len(values), dtype=bool)
    if low is not None:
        outside |= values < low
    if high is not None:
        outside |= values > high
    return float(outside.sum() / rows)


def _raw_distances(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Exact KS (statistic, p-value) and Wasserstein-1 (raw, and normed by REF's standard
    deviation) of the finite values (sorted ascending), in one merge of the sorted samples; nothing where a side
    has no finite value."""
    if a.size == 0 or b.size == 0:
        return {}
    result = ks_wasserstein(a, b, presorted=True)
    return {
        "ks": result.ks,
        "ks_p": result.ks_p,
        "wasserstein": result.wasserstein,
        "wasserstein_normed": None if np.isnan(result.normed) else result.normed,
    }
