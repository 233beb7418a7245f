"""The reference profile: its bins, their agreement between one row and a column, counting,
coarse sums, the validation gate's PSI bins, and its canonical JSON and hash."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskops.errors import InputError, IntegrityError
from riskops.profiles.profile import (
    CategoricalBins,
    NumericBins,
    ReferenceProfile,
    count_sorted,
    fit_profile,
    sorted_finite,
)
from riskops.spec import ModelSpec, parse_spec
from riskops.statistics.drift import (
    ks_exact,
    ks_from_counts,
    psi,
    wasserstein_exact,
    wasserstein_from_counts,
)
from riskops.statistics.stability import numeric_stability
from tests.conftest import REPO

SPEC_YAML = """
name: toy-model
intended_use: Tests of the reference profile.
risk_tier: low
owner: tests
data:
  source: data.csv
  label: {column: bad, positive: 1, negative: 0}
features:
  - {name: amount, type: numeric, min: 0, reason: Large amount}
  - {name: purpose, type: categorical, categories: [car, house, "True", "3"], reason: Purpose}
  - {name: age, type: numeric, allow_missing: true, reason: Age}
trainer: {entrypoint: "trainer.py:fit"}
policy: {approve_below: 0.2, decline_from: 0.5}
"""


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return parse_spec(SPEC_YAML).spec


def reference_columns(n: int = 1000, seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(7, 1, n), 2)
    purpose = rng.choice(np.array(["car", "house", "True", "3"], dtype=object), n)
    purpose[::17] = None
    age = rng.integers(18, 80, n).astype(np.float64)
    age[::13] = np.nan
    score = rng.beta(2, 8, n)
    return {"amount": amount, "purpose": purpose, "age": age}, score


@pytest.fixture(scope="module")
def profile(spec: ModelSpec) -> ReferenceProfile:
    columns, score = reference_columns()
    return fit_profile("toy-model", 3, spec, columns, score, coarse_bins=10, fine_bins=256)


def test_numeric_bins_nest_the_coarse_edges_in_a_fine_grid(profile: ReferenceProfile) -> None:
    columns, _score = reference_columns()
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    assert 200 <= len(amount.fine_edges) - 1 <= 300
    assert set(amount.coarse_edges) <= set(amount.fine_edges)
    assert np.all(np.diff(amount.fine_edges) > 0)
    assert amount.fine_edges[0] == columns["amount"].min()
    assert amount.fine_edges[-1] == np.nextafter(columns["amount"].max(), np.inf)
    assert len(amount.coarse_edges) == 9
    # The reference maximum is an interior value: nothing overflows, nothing underflows.
    assert profile.reference[0, 1] == 0
    assert profile.reference[0, amount.size - 1] == 0
    assert profile.reference[0].sum() == profile.n == 1000
    assert profile.reference[-1].sum() == 1000


def test_coarse_counts_equal_the_validation_gates_psi_bins(profile: ReferenceProfile) -> None:
    columns, score = reference_columns()
    rng = np.random.default_rng(5)
    current = {
        "amount": np.round(rng.lognormal(7.2, 1, 400), 2),
        "purpose": np.array(["car"] * 400, dtype=object),
        "age": rng.integers(18, 80, 400).astype(np.float64),
    }
    current_score = rng.beta(2, 7, 400)
    coarse = profile.coarse(profile.count(profile.bin_columns(current, current_score)))
    for row, name, expected_values, actual_values in (
        (0, "amount", columns["amount"], current["amount"]),
        (2, "age", columns["age"], current["age"]),
        (3, "score", score, current_score),
    ):
        gate = numeric_stability(expected_values, actual_values, bins=10)
        interval_bins = [b for b in gate.bins if b.label != "missing"]
        ours = coarse[row, 1 : len(profile.rows[row].coarse_edges) + 2]  # type: ignore[union-attr]
        kept = ours[(ours + profile.coarse(profile.reference)[row, 1 : len(ours) + 1]) > 0]
        assert kept.tolist() == [b.actual_count for b in interval_bins], name


def test_categorical_bins_missing_categories_unseen(profile: ReferenceProfile) -> None:
    purpose = profile.features[1]
    assert isinstance(purpose, CategoricalBins)
    assert purpose.categories == ("car", "house", "True", "3")
    assert purpose.size == 6
    row = {"amount": 1.0, "age": 30.0}
    codes = [
        int(profile.bin_row({**row, "purpose": value}, 0.1)[1])
        for value in (None, "car", "house", True, 3, np.int64(3), np.bool_(True), "bike", ["x"])
    ]
    assert codes == [0, 1, 2, 3, 4, 4, 3, 5, 5]


def test_numeric_missing_underflow_overflow_and_edges(profile: ReferenceProfile) -> None:
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    edges = amount.fine_edges
    last = len(edges) + 1

    def bin_of(value: object) -> int:
        return int(profile.bin_row({"amount": value, "purpose": "car", "age": 1.0}, 0.1)[0])

    assert [bin_of(v) for v in (None, math.nan, math.inf, -math.inf, "12")] == [0] * 5
    assert bin_of(edges[0] - 1) == 1
    assert bin_of(edges[0]) == 2  # a left edge belongs to the bin it opens
    assert bin_of(edges[1]) == 3
    assert bin_of(edges[-1]) == last
    assert bin_of(1e300) == last
    assert bin_of(10**400) == 0  # an integer too large for a float is not a finite number


values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.sampled_from(["car", "house", "True", "3", "bike", ""]),
)


@given(st.data())
def test_bin_row_equals_bin_columns(data: st.DataObject) -> None:
    profile = _PROFILE
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    on_edges = st.sampled_from(amount.fine_edges + amount.coarse_edges)
    numeric = st.one_of(values, on_edges)
    rows = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {"amount": numeric, "purpose": values, "age": numeric, "score": numeric}
            ),
            min_size=1,
            max_size=20,
        )
    )
    one_by_one = np.stack([profile.bin_row(r, r["score"]) for r in rows], axis=1)  # type: ignore[arg-type]
    columns = {
        k: np.array([r[k] for r in rows], dtype=object) for k in ("amount", "purpose", "age")
    }
    scores = np.array([r["score"] for r in rows], dtype=object)
    assert np.array_equal(profile.bin_columns(columns, scores), one_by_one)


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=30),
    st.lists(
        st.one_of(st.sampled_from(["car", "house", "True", "3", "x"]), st.text(max_size=6)),
        min_size=30,
        max_size=30,
    ),
)
def test_typed_columns_bin_like_rows(floats: list[float], purposes: list[str]) -> None:
    profile = _PROFILE
    n = len(floats)
    columns: dict[str, Any] = {
        "amount": np.array(floats),
        "purpose": np.array(purposes[:n]),  # a numpy text column
        "age": np.array(floats[::-1]),
    }
    score = np.array(floats)
    rows = [
        profile.bin_row({k: v[i].item() for k, v in columns.items()}, float(score[i]))
        for i in range(n)
    ]
    assert np.array_equal(profile.bin_columns(columns, score), np.stack(rows, axis=1))


@given(st.data())
def test_counts_from_sorted_values_equal_counting_the_bins(data: st.DataObject) -> None:
    """fit_profile and file comparisons count numeric rows by searching each edge among the
    sorted values; that must be exactly the count of the bins bin_columns gives."""
    profile = _PROFILE
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    numbers = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from(amount.fine_edges + amount.coarse_edges + (-0.0, 0.0)),
    )
    column = np.array(data.draw(st.lists(numbers, min_size=0, max_size=60)), dtype=np.float64)
    finite = sorted_finite(column)
    counted = count_sorted(amount, finite, column.size - finite.size, profile.width)
    bins = np.zeros((len(profile.rows), column.size), dtype=np.int32)
    bins[0] = profile.bin_columns(
        {"amount": column, "purpose": np.full(column.size, None), "age": column}, column
    )[0]
    assert np.array_equal(counted, profile.count(bins)[0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.floats(min_value=-1e299, max_value=1e299),
                st.sampled_from([math.nan, math.inf, -math.inf]),
                st.none(),
            ),
            st.sampled_from(["car", "house", "True", "3", "bike", None]),
            st.floats(min_value=-5, max_value=5),
        ),
        min_size=3,
        max_size=40,
    )
)
def test_fitted_reference_counts_equal_counting_its_own_bins(
    rows: list[tuple[float | None, str | None, float]],
) -> None:
    spec = parse_spec(SPEC_YAML).spec
    columns = {
        "amount": np.array([r[0] for r in rows], dtype=object),
        "purpose": np.array([r[1] for r in rows], dtype=object),
        "age": np.array([r[2] for r in rows], dtype=np.float64),
    }
    score = np.array([abs(r[2]) / 5 for r in rows])
    if not np.isfinite(np.array([np.nan if r[0] is None else r[0] for r in rows])).any():
        return  # a numeric row with no finite value is refused (tested elsewhere)
    fitted = fit_profile("toy-model", 1, spec, columns, score, coarse_bins=4, fine_bins=16)
    presorted = fit_profile(
        "toy-model",
        1,
        spec,
        columns,
        score,
        coarse_bins=4,
        fine_bins=16,
        presorted={"amount": sorted_finite(columns["amount"])},
    )
    assert fitted == presorted
    assert np.array_equal(fitted.reference, fitted.count(fitted.bin_columns(columns, score)))


def test_count_is_one_bincount_over_rows(profile: ReferenceProfile) -> None:
    columns, score = reference_columns(300, seed=9)
    bins = profile.bin_columns(columns, score)
    counts = profile.count(bins)
    assert counts.dtype == np.int64
    assert counts.shape == (4, profile.width)
    for r in range(4):
        expected = np.bincount(bins[r], minlength=profile.width)
        assert np.array_equal(counts[r], expected)
    single = profile.count(profile.bin_row({"amount": 5.0, "purpose": "car", "age": 20.0}, 0.2))
    assert single.sum() == 4
    # Windows merge by addition.
    split = profile.count(bins[:, :100]) + profile.count(bins[:, 100:])
    assert np.array_equal(split, counts)


def test_count_refuses_foreign_bins(profile: ReferenceProfile) -> None:
    with pytest.raises(InputError, match="shape \\(4, n\\)"):
        profile.count(np.zeros((3, 5), dtype=np.int32))
    bad = np.zeros((4, 2), dtype=np.int32)
    bad[1, 0] = 6  # the categorical row has 6 bins: 0..5
    with pytest.raises(InputError, match="outside its row's bins"):
        profile.count(bad)


def test_coarse_sums_fine_counts(profile: ReferenceProfile) -> None:
    coarse = profile.coarse(profile.reference)
    assert coarse.sum(axis=1).tolist() == [profile.n] * 4
    purpose_size = profile.features[1].size
    assert np.array_equal(coarse[1, :purpose_size], profile.reference[1, :purpose_size])
    # Deciles of a continuous reference: about a tenth each.
    amount_deciles = coarse[0, 1:11]
    assert amount_deciles.sum() == 1000
    assert np.all(np.abs(amount_deciles - 100) <= 10)
    stacked = profile.coarse(np.stack([profile.reference, profile.reference]))
    assert np.array_equal(stacked[1], coarse)
    with pytest.raises(InputError, match="Counts must have shape"):
        profile.coarse(profile.reference[:, :5])


def test_json_round_trip_is_exact_and_canonical(profile: ReferenceProfile) -> None:
    data = profile.to_json()
    again = ReferenceProfile.from_json(data)
    assert again.to_json() == data
    assert again == profile
    assert hash(again) == hash(profile)
    assert again != ReferenceProfile.from_json(data.replace(b'"version":3', b'"version":4'))
    assert again.features == profile.features
    assert again.score == profile.score
    assert np.array_equal(again.reference, profile.reference)
    assert np.array_equal(again.moments, profile.moments, equal_nan=True)
    assert b": " not in data
    assert b", " not in data
    document = orjson.loads(data)
    assert list(document) == sorted(document)
    assert profile.sha256().startswith("sha256:")
    assert len(profile.sha256()) == 71


def test_hash_is_stable_across_processes(profile: ReferenceProfile) -> None:
    code = (
        "import sys; from riskops.profiles.profile import ReferenceProfile as P; "
        "print(P.from_json(sys.stdin.buffer.read()).sha256())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=profile.to_json(),
        capture_output=True,
        check=True,
    )
    assert out.stdout.decode().strip() == profile.sha256()


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda d: b"{not json", IntegrityError, "not valid JSON"),
        (lambda d: b"[1, 2]", IntegrityError, "not a JSON object"),
        (lambda d: d.replace(b"reference@1", b"reference@2"), InputError, "reference@2"),
        (lambda d: d.replace(b'"n":1000', b'"n":999'), IntegrityError, "add to 1000, not 999"),
        (
            lambda d: d.replace(b'"fine_edges":[', b'"fine_edges":[1e9,'),
            IntegrityError,
            "do not increase",
        ),
        (lambda d: d.replace(b'"model"', b'"modell"'), IntegrityError, "damaged: 'model'"),
    ],
)
def test_from_json_names_the_damage(
    profile: ReferenceProfile, damage: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ReferenceProfile.from_json(damage(profile.to_json()))


def test_fit_refuses_bad_input(spec: ModelSpec) -> None:
    columns, score = reference_columns(50)
    with pytest.raises(InputError, match="no column 'age'"):
        fit_profile("toy-model", 1, spec, {k: columns[k] for k in ("amount", "purpose")}, score)
    empty = {**columns, "age": np.full(50, np.nan)}
    with pytest.raises(InputError, match="'age' has no finite value"):
        fit_profile("toy-model", 1, spec, empty, score)
    with pytest.raises(InputError, match="fine_bins is 5"):
        fit_profile("toy-model", 1, spec, columns, score, fine_bins=5)
    with pytest.raises(InputError, match="'amount' has shape \\(49,\\)"):
        fit_profile("toy-model", 1, spec, {**columns, "amount": columns["amount"][1:]}, score)


def test_a_constant_feature_gets_one_interior_bin(spec: ModelSpec) -> None:
    columns, score = reference_columns(50)
    profile = fit_profile("toy-model", 1, spec, {**columns, "age": np.full(50, 40.0)}, score)
    age = profile.features[2]
    assert isinstance(age, NumericBins)
    assert age.fine_edges == (40.0, float(np.nextafter(40.0, np.inf)))
    # The one cut sits at the last edge: its coarse bin is overflow, above the constant.
    assert age.coarse_edges == age.fine_edges[1:]
    assert profile.reference[2, :4].tolist() == [0, 0, 50, 0]
    assert profile.coarse(profile.reference)[2, :4].tolist() == [0, 50, 0, 0]


def test_moments(profile: ReferenceProfile) -> None:
    columns, _score = reference_columns()
    age = columns["age"][np.isfinite(columns["age"])]
    n, mean, m2, low, high = profile.moments[2]
    assert (n, low, high) == (age.size, age.min(), age.max())
    assert mean == pytest.approx(age.mean(), rel=1e-12)
    assert m2 / n == pytest.approx(age.var(), rel=1e-12)
    assert np.isnan(profile.moments[1]).all()


_PROFILE = fit_profile(
    "toy-model", 3, parse_spec(SPEC_YAML).spec, *reference_columns(), fine_bins=64
)


ONE_NUMBER = parse_spec(
    SPEC_YAML.replace(
        """  - {name: purpose, type: categorical, categories: [car, house, "True", "3"], reason: Purpose}
  - {name: age, type: numeric, allow_missing: true, reason: Age}
""",
        "",
    )
).spec

samples = st.lists(
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from([0.0, 1.0, 2.5, math.nan]),  # ties and missing values
    ),
    min_size=1,
    max_size=80,
)


@given(samples, samples, st.integers(2, 12), st.integers(0, 3))
def test_monitoring_psi_is_the_validation_gates_psi(
    expected: list[float], actual: list[float], coarse_bins: int, extra: int
) -> None:
    reference = np.array(expected)
    current = np.array(actual)
    if not np.isfinite(reference).any():
        reference = np.append(reference, 1.0)
    profile = fit_profile(
        "toy-model",
        1,
        ONE_NUMBER,
        {"amount": reference},
        np.zeros(reference.size),
        coarse_bins=coarse_bins,
        fine_bins=coarse_bins * (1 + extra),
    )
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    assert set(amount.coarse_edges) <= set(amount.fine_edges)
    assert np.array_equal(
        profile.count(profile.bin_columns({"amount": reference}, np.zeros(reference.size))),
        profile.reference,
    )
    window = profile.count(profile.bin_columns({"amount": current}, np.zeros(current.size)))
    ours = psi(profile.coarse(profile.reference)[:1], profile.coarse(window)[:1])[0]
    if np.isnan(current).all():
        assert not math.isnan(ours)
        return
    gate = numeric_stability(reference, current, bins=coarse_bins)
    assert ours == pytest.approx(gate.value, rel=1e-12, abs=1e-15)


def test_the_documented_standalone_check_reads_a_profile(profile: ReferenceProfile) -> None:
    doc = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    [program] = [b for b in blocks if "def check_profile" in b]
    namespace: dict[str, Any] = {}
    exec(compile(program, "docs/monitoring.md", "exec"), namespace)  # noqa: S102 - our own docs
    check = namespace["check_profile"]
    document = profile.to_json()
    assert check(document, profile.sha256())["n"] == profile.n
    with pytest.raises(ValueError, match=r"but sha256:.* was recorded"):
        check(document.replace(b'"version":3', b'"version":4'), profile.sha256())


@given(
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=50),
    st.lists(st.floats(-3e4, 3e4, allow_nan=False), min_size=1, max_size=50),
)
def test_ordered_edges_give_ks_and_w1_within_their_bounds(
    reference: list[float], current: list[float]
) -> None:
    ref = np.array(reference)
    cur = np.array(current)
    profile = fit_profile("toy-model", 1, ONE_NUMBER, {"amount": ref}, ref, fine_bins=40)
    counts = profile.count(profile.bin_columns({"amount": cur}, cur))[:, 1:]
    reference_counts = profile.reference[:, 1:]
    low = np.full(2, cur.min())
    high = np.full(2, np.nextafter(cur.max(), np.inf))
    edges = profile.ordered_edges(low, high)
    distance, bound = wasserstein_from_counts(reference_counts, counts, edges)
    exact = wasserstein_exact(ref, cur)
    assert np.all(np.abs(distance - exact) <= bound + 1e-9 * max(1.0, exact))
    ks, ks_bound = ks_from_counts(reference_counts, counts)
    exact_ks, _ = ks_exact(ref, cur)
    assert np.all(ks - 1e-12 <= exact_ks)
    assert np.all(exact_ks <= ks + ks_bound + 1e-12)


def test_ordered_edges_layout(profile: ReferenceProfile) -> None:
    edges = profile.ordered_edges()
    amount = profile.features[0]
    assert isinstance(amount, NumericBins)
    size = len(amount.fine_edges)
    assert edges[0, 0] == amount.fine_edges[0]
    assert tuple(edges[0, 1 : size + 1]) == amount.fine_edges
    assert np.all(edges[0, size + 1 :] == amount.fine_edges[-1])
    assert not edges[1].any()  # categorical: no order
    wide = profile.ordered_edges(np.full(4, -1e9), np.full(4, 1e9))
    assert (wide[0, 0], wide[0, -1]) == (-1e9, 1e9)
    assert wide[0, 1] == amount.fine_edges[0]


@given(st.data())
def test_a_damaged_document_is_refused_with_a_riskops_error(data: st.DataObject) -> None:
    document = bytearray(_PROFILE.to_json())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(document) - 1))
        document[at] = data.draw(st.sampled_from(b'0123456789[]{}",:.-enulltrua'))
    try:
        again = ReferenceProfile.from_json(bytes(document))
    except (InputError, IntegrityError):
        return
    # A change that still reads is a valid profile of its own, and its hash says it changed.
    assert (again.sha256() == _PROFILE.sha256()) == (again.to_json() == _PROFILE.to_json())


def test_reference_values_near_the_float64_limit_are_refused_with_the_fix(
    spec: ModelSpec,
) -> None:
    columns, score = reference_columns(n=50)
    columns["amount"] = columns["amount"].copy()
    columns["amount"][3] = 1.7976931348623157e308  # a sentinel for "unknown"
    with pytest.raises(InputError, match="beyond ±1e\\+300") as refused:
        fit_profile("toy-model", 1, spec, columns, score)
    assert refused.value.hint is not None
    assert "sentinel" in refused.value.hint
