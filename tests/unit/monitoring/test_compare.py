"""``compare_files``: exact statistics on two files, checked against scipy and the validation
gate's PSI on fixed data, data-quality rates counted by hand, and the profile path."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from riskops.errors import InputError, MissingExtraError
from riskops.monitoring.compare import bin_frame, compare_files, count_frame
from riskops.monitoring.frames import Frame, read_frame
from riskops.profiles.profile import fit_profile
from riskops.spec import ModelSpec, parse_spec
from riskops.statistics.stability import categorical_stability, numeric_stability
from tests.unit.monitoring.synthetic import SPEC_YAML, population, small_spec


@pytest.fixture
def spec() -> ModelSpec:
    return small_spec()


def _write(path: Path, columns: dict[str, np.ndarray]) -> Path:
    pq.write_table(pa.table({k: list(v) for k, v in columns.items()}), path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    ref = population(3000, 21)
    cur = population(2000, 22, income_shift=30.0)
    cur["income"][:10] = -5.0  # below the spec's min of 0
    cur["income"][10:14] = 2000.0  # above its max of 1000
    cur["income"][14:20] = np.nan
    cur["age"][:50] = np.inf  # non-finite counts as missing
    cur["housing"][:30] = "castle"  # unseen
    cur["housing"][30:70] = None
    return _write(tmp_path / "ref.parquet", ref), _write(tmp_path / "cur.parquet", cur), ref, cur


def test_statistics_match_scipy_and_the_gate(files: tuple, spec: ModelSpec) -> None:
    ref_path, cur_path, ref, cur = files
    result = compare_files(ref_path, cur_path, spec, multivariate=False)
    assert (result.reference_rows, result.current_rows) == (3000, 2000)
    assert result.profile == "fitted on ref.parquet"
    by_name = {f.feature: f for f in result.features}

    for name in ("income", "age", "utilisation"):
        a = ref[name][np.isfinite(ref[name])]
        b = cur[name][np.isfinite(cur[name])]
        drift = by_name[name]
        expected = stats.ks_2samp(a, b)
        assert drift.ks == expected.statistic
        assert drift.ks_p == expected.pvalue
        assert drift.wasserstein == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
        assert drift.wasserstein_normed == pytest.approx(
            stats.wasserstein_distance(a, b) / np.std(a), rel=1e-12
        )
    # Coarse bins are the validation gate's reference-quantile bins: the same PSI.
    gate = numeric_stability(ref["income"], cur["income"], bins=10)
    assert by_name["income"].psi == pytest.approx(gate.value, rel=1e-12, abs=1e-15)

    housing = by_name["housing"]
    categories = ["own", "rent", "free"]
    codes = {c: i for i, c in enumerate(categories)}
    ref_codes = [codes[v] for v in ref["housing"]]
    cur_known = [codes.get(v, -1) if v is not None else -1 for v in cur["housing"]]
    assert housing.unseen_current == 30 / 2000
    assert housing.missing_current == 40 / 2000
    # Without unseen values, the gate's categorical PSI; with them, an extra "unseen" bin.
    ref_shares = np.bincount(ref_codes, minlength=3) / 3000
    cur_counts = np.append(np.bincount([c for c in cur_known if c >= 0], minlength=3), [40, 30])
    cur_shares = cur_counts / 2000
    p = np.append(ref_shares, [0.0, 0.0])
    assert housing.jensen_shannon == pytest.approx(
        distance.jensenshannon(p, cur_shares, base=2), rel=1e-12
    )
    table = np.vstack([np.append(np.bincount(ref_codes, minlength=3), [0, 0]), cur_counts])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert housing.chi_square == pytest.approx(chi2.statistic, rel=1e-12)
    assert housing.chi_square_dof == chi2.dof
    assert housing.chi_square_p == pytest.approx(chi2.pvalue, rel=1e-9)
    assert categorical_stability(ref_codes, ref_codes, categories).value == 0.0

    income = by_name["income"]
    assert income.out_of_range_current == 14 / 2000
    assert income.missing_current == 6 / 2000
    assert by_name["age"].missing_current == 50 / 2000
    assert by_name["utilisation"].out_of_range_current is None  # no range in the spec
    assert income.psi > 0.1
    assert by_name["utilisation"].psi < 0.02


def test_identical_files_show_no_drift(tmp_path: Path, spec: ModelSpec) -> None:
    path = _write(tmp_path / "same.parquet", population(1000, 5))
    result = compare_files(path, path, spec, multivariate=False)
    for f in result.features:
        assert f.psi == 0.0
        assert f.jensen_shannon == 0.0
        assert f.chi_square == 0.0
        assert f.ks in (None, 0.0)


def test_registered_profile_gives_its_frozen_bins(files: tuple, spec: ModelSpec) -> None:
    ref_path, cur_path, *_ = files
    training = population(1500, 99)
    profile = fit_profile("drift-check", 4, spec, training, np.linspace(0, 1, 1500))
    on_profile = compare_files(ref_path, cur_path, spec, profile=profile, multivariate=False)
    fitted = compare_files(ref_path, cur_path, spec, multivariate=False)
    assert on_profile.profile == "drift-check@4"
    assert on_profile.profile_sha256 == profile.sha256()
    # Other bins, other PSI; the raw-value statistics do not depend on bins.
    assert on_profile.features[0].psi != fitted.features[0].psi
    assert on_profile.features[0].ks == fitted.features[0].ks


def test_profile_of_another_spec_is_refused(files: tuple, spec: ModelSpec) -> None:
    ref_path, cur_path, *_ = files
    columns = population(100, 1)
    other = spec.model_copy(update={"features": spec.features[:3]})
    profile = fit_profile("other", 1, other, columns, np.linspace(0, 1, 100))
    with pytest.raises(InputError, match=r"The profile of other@1 bins income, age, utilisation"):
        compare_files(ref_path, cur_path, spec, profile=profile)


def test_empty_file_is_refused(tmp_path: Path, spec: ModelSpec) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("income,age,utilisation,housing\n")
    full = _write(tmp_path / "full.parquet", population(50, 1))
    with pytest.raises(InputError, match=r"empty\.csv has no rows"):
        compare_files(full, empty, spec)


def test_dictionary_binning_equals_the_profiles_own(files: tuple, spec: ModelSpec) -> None:
    _, cur_path, ref, _ = files
    profile = fit_profile("drift-check", 1, spec, ref, np.zeros(3000))
    frame = read_frame(cur_path, spec)
    expected = profile.bin_columns(frame.columns, np.full(frame.rows, math.nan))
    np.testing.assert_array_equal(bin_frame(profile, frame), expected)
    # Counting without binning every value (sorted numeric rows, categorical by dictionary)
    # gives the counts of those bins.
    np.testing.assert_array_equal(count_frame(profile, frame), profile.count(expected))


def test_multivariate_part_reports_its_subsample(files: tuple, spec: ModelSpec) -> None:
    ref_path, cur_path, *_ = files
    result = compare_files(ref_path, cur_path, spec, classifier_rows=1000)
    assert result.multivariate is not None
    assert result.multivariate.subsampled
    assert result.multivariate.top[0].feature in {"income", "housing", "age"}
    body = result.as_dict()
    assert body["kind"] == "riskops.monitoring/compare@1"
    assert body["multivariate"]["subsampled"] is True
    assert set(body["seconds"]) >= {"read", "statistics", "multivariate", "total"}


@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.sampled_from(["own", "rent", "free", "castle", "", None]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_dictionary_binning_equals_the_profiles_own_on_random_rows(
    rows: list[tuple[float, str | None]],
) -> None:
    spec = parse_spec(SPEC_YAML).spec
    profile = fit_profile("drift-check", 1, spec, population(200, 8), np.zeros(200))
    numbers = np.array([r[0] for r in rows], dtype=np.float64)
    texts = np.array([r[1] for r in rows], dtype=object)
    values = tuple(dict.fromkeys(t for t in texts if t is not None))
    index = {t: i for i, t in enumerate(values)}
    codes = np.array([-1 if t is None else index[t] for t in texts], dtype=np.int32)
    columns = {"income": numbers, "age": numbers, "utilisation": numbers, "housing": texts}
    frame = Frame(Path("x"), "parquet", len(rows), columns, {"housing": (codes, values)})
    expected = profile.bin_columns(columns, np.full(len(rows), math.nan))
    np.testing.assert_array_equal(bin_frame(profile, frame), expected)
    np.testing.assert_array_equal(count_frame(profile, frame), profile.count(expected))


def test_without_pyarrow_the_error_names_the_extra(
    tmp_path: Path, spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    monkeypatch.delitem(sys.modules, "riskops.monitoring.frames")
    with pytest.raises(MissingExtraError, match="Comparing files needs pyarrow") as caught:
        compare_files(tmp_path / "a.csv", tmp_path / "b.csv", spec)
    assert caught.value.hint == "Install it with: pip install 'riskops[parquet]'"


def test_without_pyspark_the_spark_engine_names_the_extra(
    spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskops.monitoring.spark import spark_counts

    profile = fit_profile("drift-check", 1, spec, population(50, 1), np.zeros(50))
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.ml", None)
    monkeypatch.setitem(sys.modules, "pyspark.ml.feature", None)
    with pytest.raises(MissingExtraError, match="The Spark monitoring engine needs pyspark"):
        spark_counts(profile, object())  # type: ignore[arg-type]
