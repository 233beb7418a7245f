from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import ConflictError, IntegrityError, PermissionDeniedError
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import load_spec
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import SPEC, approve_and_deploy, store_snapshot


def test_a_good_candidate_becomes_validated_with_its_evidence(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    assert outcome.passed
    assert outcome.state == "validated"
    gates = {r.gate: r for r in outcome.results}
    families = {"performance", "calibration", "stability", "champion", "data_quality"}
    assert {g for g in gates if g.split(".")[0] in families} == {
        *(f"performance.{m}" for m in ("auc", "ks", "gini", "pr_auc", "brier", "log_loss")),
        "performance.generalisation_gap",
        *(
            f"calibration.{m}"
            for m in ("ece", "slope_min", "slope_max", "intercept", "hosmer_lemeshow_p")
        ),
        "stability.score_psi",
        "stability.max_csi",
        "champion.auc_difference",
        *(
            f"data_quality.{m}"
            for m in (
                "schema",
                "missing_rate",
                "out_of_range_rate",
                "unseen_category_rate",
                "duplicate_subjects",
                "label_leakage",
            )
        ),
    }
    assert {g.split(".")[0] for g in gates} == families | {
        "backtest",
        "partitions",
        "decisions",
        "fairness",
        "robustness",
        "monotonicity",
        "explainability",
        "benchmark",
    }
    auc = gates["performance.auc"]
    assert auc.threshold == 0.70
    assert auc.value is not None
    assert auc.value > 0.7
    assert auc.kind == "riskops.gate/performance@1"
    # the reported figures come from the test partition, the spec's share of the 1,000 rows
    split = load_spec(SPEC).spec.data.split
    assert split.holdout_size is not None
    assert auc.evidence["sample"] == "test"
    assert auc.evidence["rows"] == round(split.holdout_size * 1000)
    assert auc.evidence["events"] == round(split.holdout_size * 300)
    reuse = gates["partitions.test_reuse"]
    assert (reuse.status, reuse.value, reuse.evidence["earlier_versions"]) == ("reported", 0, [])
    assert {p["partition"]: p["rows"] for p in reuse.evidence["partitions"]} == {
        "train": 1000 - round((split.test_size + split.holdout_size) * 1000),
        "validation": round(split.test_size * 1000),
        "test": round(split.holdout_size * 1000),
    }
    # the German credit data has no dates: no back-test, and the result says so
    backtest = gates["backtest.auc_by_period"]
    assert backtest.status == "not_applicable"
    assert "no dates" in backtest.evidence["note"]
    assert gates["champion.auc_difference"].evidence["champion"] is None
    with ctx.store.transaction() as session:
        assert get_version(session, ref).state == "validated"
    event = list_events(ctx.store, action="validation")[0]
    assert event.payload["passed"] is True
    assert event.actor == "victor"
    # no champion yet and no subject key (declared in the spec): not applicable, never passed
    assert gates["champion.auc_difference"].status == "not_applicable"
    duplicates = gates["data_quality.duplicate_subjects"]
    assert duplicates.status == "not_applicable"
    assert "no subject key" in duplicates.evidence["not_applicable"]
    assert gates["decisions.review_share"].status == "reported"
    counts = event.payload["counts"]
    # and foreign_worker's three comparisons, which the spec declares cannot be made here
    for metric in ("approval_rate_ratio", "equal_opportunity_difference", "calibration_difference"):
        gate = f"fairness.foreign_worker.{metric}"
        assert gates[gate].status == "not_applicable"
        assert "8 of the 250 test rows" in gates[gate].evidence["not_applicable"]
    assert counts["not_applicable"] == 6
    assert sum(counts.values()) == len(outcome.results)
    assert event.payload["gates"]["data_quality.duplicate_subjects"]["status"] == "not_applicable"


def test_a_candidate_below_a_blocking_threshold_is_rejected(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    def strict(raw: dict[str, Any]) -> None:
        raw["gates"]["performance"]["min_auc"] = 0.99

    ref = train(ctx, spec_copy(strict), actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    assert not outcome.passed
    assert outcome.state == "rejected"
    assert [r.gate for r in outcome.results if r.blocks] == ["performance.auc"]


def test_an_advisory_gate_that_fails_does_not_block(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    def advisory(raw: dict[str, Any]) -> None:
        raw["gates"]["performance"].update(min_auc=0.99, severity="advisory")

    ref = train(ctx, spec_copy(advisory), actor="alice").ref
    outcome = validate(ctx, ref, actor="victor")
    assert outcome.passed
    assert any(not r.passed and r.severity == "advisory" for r in outcome.results)


def test_a_challenger_worse_than_the_champion_is_rejected(ctx: Context) -> None:
    champion = train(ctx, SPEC, actor="alice").ref
    approve_and_deploy(ctx, champion)
    weak = train(ctx, SPEC, actor="alice", params={"n_estimators": 1, "num_leaves": 2}).ref
    outcome = validate(ctx, weak, actor="victor")
    assert not outcome.passed
    assert outcome.champion == champion
    [gate] = [r for r in outcome.results if r.gate == "champion.auc_difference"]
    assert not gate.passed
    assert gate.evidence["champion"] == str(champion)
    assert gate.evidence["difference"] == pytest.approx(
        gate.evidence["candidate_auc"] - gate.evidence["champion_auc"]
    )
    assert gate.value == pytest.approx(gate.evidence["lower_bound"])
    assert gate.value < -0.02
    # choosing between versions uses the validation split, never the test partition
    assert gate.evidence["rows"] == round(load_spec(SPEC).spec.data.split.test_size * 1000)
    # the champion was validated on the same test rows first: the reuse count says so
    [reuse] = [r for r in outcome.results if r.gate == "partitions.test_reuse"]
    assert reuse.value == 1
    assert reuse.evidence["earlier_versions"] == [str(champion)]


def test_the_trainer_cannot_validate_their_own_model(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="dana").ref
    before = store_snapshot(ctx)
    with pytest.raises(
        PermissionDeniedError, match="dana trained credit-scoring@1, so cannot validate it"
    ):
        validate(ctx, ref, actor="dana")
    assert store_snapshot(ctx) == before


def test_only_a_candidate_is_validated(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    validate(ctx, ref, actor="victor")
    with pytest.raises(ConflictError, match="is 'validated'; only a candidate is validated"):
        validate(ctx, ref, actor="victor")


def test_a_tampered_artifact_is_refused(ctx: Context) -> None:
    ref = train(ctx, SPEC, actor="alice").ref
    with ctx.store.transaction() as session:
        artifact = urlparse(get_version(session, ref).artifact_uri)
    model_file = Path(artifact.path) / "model.lgb"
    model_file.write_text(model_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    before = store_snapshot(ctx)
    with pytest.raises(IntegrityError, match="refusing to load it"):
        validate(ctx, ModelRef("credit-scoring", 1), actor="victor")
    assert store_snapshot(ctx) == before
