"""Canary analysis: the statistics against scipy/numpy and hypothesis; a challenger equal to the
champion passes and is promoted, one with shifted scores fails and is rolled back as
riskops-monitor with the analysis's hash in the audit event, an unapproved one is not promoted,
and bad input gets a clear error."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from riskops.audit import list_events
from riskops.context import Context, open_context
from riskops.errors import ConflictError, InputError, SpecError
from riskops.governance.deployments import serving_at
from riskops.governance.lifecycle import State, move
from riskops.governance.serving import lanes_of
from riskops.monitoring.canary import (
    analyse_canary,
    latency_quantile,
    scores_below,
    two_proportion_test,
)
from riskops.monitoring.runs import VersionInfo
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import parse_spec
from riskops.training.pipeline import train
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE, SPEC, approve_and_deploy
from tests.unit.monitoring.population import SPEC_TEXT, draw, reference, replay

HOUR = datetime(2026, 11, 2, 9, tzinfo=UTC)
MODEL = "credit-scoring"

# -- the statistics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2"), [(30, 200, 18, 210), (5, 50, 9, 40), (0, 10, 3, 12)]
)
def test_two_proportion_test_is_pearsons_chi_square_without_correction(
    k1: int, n1: int, k2: int, n2: int
) -> None:
    z, p_greater, p_two = two_proportion_test(k1, n1, k2, n2)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    statistic, p_value, _, _ = chi2_contingency(table, correction=False)
    assert z * z == pytest.approx(statistic, rel=1e-12)
    assert p_two == pytest.approx(p_value, rel=1e-9)
    assert p_greater == pytest.approx(p_two / 2 if z > 0 else 1 - p_two / 2, rel=1e-9)


@given(
    st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_two_proportion_test_is_antisymmetric(a: tuple[int, int], b: tuple[int, int]) -> None:
    z, p_greater, p_two = two_proportion_test(*a, *b)
    z_back, p_back, p_two_back = two_proportion_test(*b, *a)
    assert z == pytest.approx(-z_back, abs=1e-12)
    assert 0.0 <= p_two <= 1.0
    assert 0.0 <= p_greater <= 1.0
    assert p_two == pytest.approx(p_two_back, abs=1e-12)
    if z != 0.0:
        assert p_greater + p_back == pytest.approx(1.0, abs=1e-12)


def test_two_proportion_test_with_nothing_to_compare() -> None:
    assert two_proportion_test(0, 0, 3, 10) == (0.0, 1.0, 1.0)
    assert two_proportion_test(10, 10, 20, 20) == (0.0, 1.0, 1.0)


def test_latency_quantile_is_the_upper_edge_of_the_bucket_holding_it() -> None:
    rng = np.random.default_rng(4)
    latencies = rng.lognormal(0.0, 1.0, 10_000)
    edges = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
    histogram = np.bincount(np.searchsorted(edges, latencies, side="left"), minlength=12)
    p99 = latency_quantile(histogram)
    exact = float(np.quantile(latencies, 0.99, method="inverted_cdf"))
    assert p99 is not None
    below = max([e for e in edges if e < p99], default=0.0)
    assert below < exact <= p99
    assert latency_quantile([0] * 12) is None
    assert latency_quantile([0] * 11 + [5]) == math.inf


def test_scores_below_at_the_coarse_edges_gives_the_profiles_coarse_counts() -> None:
    info = reference(n=5000)
    assert info.profile is not None
    profile = info.profile
    columns, score = draw(np.random.default_rng(9), 3000)
    counts = profile.count(profile.bin_columns(columns, score))
    row = counts[-1]
    bins = profile.score
    below = scores_below(bins, row, np.asarray(bins.coarse_edges))
    finite = row[1 : len(bins.fine_edges) + 2].sum()
    derived = np.diff(np.concatenate([[0.0], below, [finite]]))
    expected = profile.coarse(counts)[-1][1 : bins.coarse_size]
    np.testing.assert_array_equal(derived, expected)
    # Linear between the fine edges: halfway through a fine bin holds half its count.
    middle = (bins.fine_edges[10] + bins.fine_edges[11]) / 2
    halfway = scores_below(bins, row, np.array([middle]))[0]
    assert halfway == pytest.approx(row[1:12].sum() + row[12] / 2)


# -- the analysis on a workspace ------------------------------------------------------------------


def analysed(
    ctx: Context, *, income_shift: float = 0.0, latency_ms: float = 0.7, **rule: Any
) -> Any:
    """Replay the champion's and the challenger's traffic of one hour and analyse it."""
    info = reference(canary={"min_decisions": 1000, **rule})
    columns, score = draw(np.random.default_rng(5), 3000)
    replay(ctx.store, info, columns, score, hour=HOUR, model=MODEL, version=1)
    columns, score = draw(np.random.default_rng(6), 1500, income_shift=income_shift)
    replay(
        ctx.store, info, columns, score, hour=HOUR, model=MODEL, version=2, latency_ms=latency_ms
    )

    def versions(session: Any, model: str, version: int) -> VersionInfo:
        return info

    return analyse_canary(
        ctx, MODEL, window=timedelta(hours=1), end=HOUR + timedelta(hours=1), versions=versions
    )


def test_a_challenger_equal_to_the_champion_passes_and_is_promoted(
    canary_workspace: Context,
) -> None:
    ctx = canary_workspace
    analysis = analysed(ctx, action="promote")
    assert analysis.verdict == "pass", analysis.failed
    assert (analysis.champion, analysis.challenger, analysis.lane) == (1, 2, "canary")
    score = analysis.results["score"]
    assert score["same_bins"] is True
    assert score["psi"] < 0.02
    assert score["psi_p_value"] > 0.05
    assert analysis.action == "promoted credit-scoring@2 to serve production in full"
    with ctx.store.reading() as session:
        serving = serving_at(session, MODEL, "production")
        assert serving is not None
        assert serving.version == 2
        assert [lane for _, lane in lanes_of(session, MODEL, "production")] == ["champion"]
    event = list_events(ctx.store, action="deployment.deployed")[-1]
    assert event.actor == "riskops-monitor"
    assert event.payload["evidence"]["analysis_sha256"] == analysis.results_sha256
    assert event.payload["evidence"]["score_psi"] == score["psi"]


def test_shifted_scores_fail_and_the_canary_is_rolled_back_audited(
    canary_workspace: Context,
) -> None:
    ctx = canary_workspace
    analysis = analysed(ctx, income_shift=-1.5, action="rollback")
    assert analysis.verdict == "fail"
    assert any(f.startswith("score PSI") for f in analysis.failed)
    assert analysis.results["score"]["psi"] > 0.1
    assert analysis.action == "rolled back credit-scoring@2's canary in production"
    with ctx.store.reading() as session:
        lanes = lanes_of(session, MODEL, "production")
    assert [(row.version, lane) for row, lane in lanes] == [(1, "champion")]
    (event,) = list_events(ctx.store, action="deployment.rolled_back")
    assert event.actor == "riskops-monitor"
    assert event.object_id == "credit-scoring@1"
    assert event.payload["previous_version"] == 2
    evidence = event.payload["evidence"]
    assert evidence["analysis_sha256"] == analysis.results_sha256
    assert evidence["verdict"] == "fail"
    assert evidence["score_psi"] == analysis.results["score"]["psi"]
    assert analysis.results_sha256 in event.payload["reason"]


def test_slow_challenger_fails_on_latency(canary_workspace: Context) -> None:
    analysis = analysed(canary_workspace, latency_ms=30.0)
    assert analysis.verdict == "fail"
    assert analysis.failed == ("p99 latency ratio 50.00 > 1.5",)
    assert analysis.action == "none"  # the default rule only reports


def test_the_rule_refuses_to_promote_a_version_that_may_not_serve(
    canary_workspace: Context,
) -> None:
    ctx = canary_workspace
    with ctx.store.transaction() as session:
        move(get_version(session, ModelRef(MODEL, 2), for_update=True), State.RETIRED)
    analysis = analysed(ctx, action="promote")
    assert analysis.verdict == "pass"
    assert analysis.action == (
        "promotion of credit-scoring@2 refused: it may not serve in production "
        "(it is 'retired', not 'approved')"
    )
    with ctx.store.reading() as session:
        serving = serving_at(session, MODEL, "production")
    assert serving is not None
    assert serving.version == 1
    assert list_events(ctx.store, action="deployment.deployed")[-1].actor == "oscar"


def test_a_small_window_is_insufficient_and_nothing_is_done(canary_workspace: Context) -> None:
    analysis = analysed(canary_workspace, income_shift=-1.5, action="rollback", min_decisions=2000)
    assert (analysis.verdict, analysis.action) == ("insufficient", "none")


def test_bad_input_gets_a_clear_error(ctx: Context) -> None:
    with pytest.raises(InputError, match="Unknown environment 'prod'"):
        analyse_canary(ctx, MODEL, environment="prod")
    with pytest.raises(InputError, match="The window must be positive"):
        analyse_canary(ctx, MODEL, window=timedelta(0))
    with pytest.raises(ConflictError, match="credit-scoring does not serve in production"):
        analyse_canary(ctx, MODEL)


def test_without_a_challenger_the_analysis_says_how_to_deploy_one(tmp_path: Path) -> None:
    settings = init_workspace(tmp_path / "ws", people=PEOPLE)
    ctx = open_context(settings)
    try:
        approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
        with pytest.raises(ConflictError, match="has no canary or shadow in production") as caught:
            analyse_canary(ctx, MODEL)
        assert "--mode canary" in (caught.value.hint or "")
    finally:
        ctx.close()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{action: maybe}", "action"),
        ("{max_latency_p99_ratio: 0.5}", "max_latency_p99_ratio"),
        ("{min_decisions: 0}", "min_decisions"),
        ("{max_score_psi: 0.1, typo: 1}", "typo"),
    ],
)
def test_the_spec_rule_refuses_bad_values(rule: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(SPEC_TEXT + f"monitoring:\n  canary: {rule}\n")


def test_the_spec_rule_has_defaults() -> None:
    canary = parse_spec(SPEC_TEXT).spec.monitoring.canary
    assert (canary.min_decisions, canary.max_score_psi, canary.action) == (500, 0.1, "none")


def test_versions_with_different_score_bins_are_compared_on_the_champions_cut_points(
    canary_workspace: Context,
) -> None:
    """Each version counts its scores on its own profile's grid; the same population still
    gives a small PSI and KS, and a shifted one a large PSI."""
    ctx = canary_workspace
    champion_info = reference(seed=1, canary={"min_decisions": 1000})
    challenger_info = reference(seed=2, n=8000)
    assert champion_info.profile is not None
    assert challenger_info.profile is not None
    assert champion_info.profile.score != challenger_info.profile.score
    columns, score = draw(np.random.default_rng(5), 3000)
    replay(ctx.store, champion_info, columns, score, hour=HOUR, model=MODEL, version=1)
    columns, score = draw(np.random.default_rng(6), 3000)
    replay(ctx.store, challenger_info, columns, score, hour=HOUR, model=MODEL, version=2)
    infos = {1: champion_info, 2: challenger_info}
    same = analyse_canary(
        ctx,
        MODEL,
        window=timedelta(hours=1),
        end=HOUR + timedelta(hours=1),
        versions=lambda session, model, version: infos[version],
    )
    assert same.results["score"]["same_bins"] is False
    assert same.results["score"]["psi"] < 0.02
    assert same.results["score"]["ks"] < 0.05
    assert same.verdict == "pass"
    columns, score = draw(np.random.default_rng(7), 3000, income_shift=-1.5)
    replay(
        ctx.store,
        challenger_info,
        columns,
        score,
        hour=HOUR + timedelta(hours=1),
        model=MODEL,
        version=2,
    )
    columns, score = draw(np.random.default_rng(8), 3000)
    replay(
        ctx.store,
        champion_info,
        columns,
        score,
        hour=HOUR + timedelta(hours=1),
        model=MODEL,
        version=1,
    )
    moved = analyse_canary(
        ctx,
        MODEL,
        window=timedelta(hours=1),
        end=HOUR + timedelta(hours=2),
        versions=lambda session, model, version: infos[version],
        act=False,
    )
    assert moved.results["score"]["psi"] > 0.3
    assert moved.verdict == "fail"
    assert moved.action == "none"


@given(
    st.lists(st.integers(0, 50), min_size=8, max_size=8), st.lists(st.floats(-1, 2), max_size=20)
)
def test_scores_below_is_monotone_and_exact_at_the_fine_edges(
    counts: list[int], points: list[float]
) -> None:
    from riskops.profiles.profile import NumericBins

    bins = NumericBins("score", coarse_edges=(0.2, 0.6), fine_edges=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    row = np.array(counts, dtype=np.int64)  # missing, underflow, 5 fine bins, overflow
    at_edges = scores_below(bins, row, np.asarray(bins.fine_edges))
    np.testing.assert_array_equal(at_edges, np.cumsum(row[1:7])[:6])
    xs = np.sort(np.asarray(points, dtype=np.float64))
    below = scores_below(bins, row, xs)
    assert np.all(np.diff(below) >= -1e-9)
    assert np.all(below <= row[1:8].sum())
