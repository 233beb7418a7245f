"""The per-batch core decides exactly as serving's decide_batch: scores, outcomes, reasons."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest

from riskops.batch.columns import ColumnEncoder
from riskops.batch.core import DECISION_SCHEMA, REJECT_SCHEMA, score_batch
from riskops.scoring.scorer import Decision, Scorer
from riskops.scoring.scores_only import decide_scores
from riskops.spec import parse_spec
from tests.conftest import SPEC
from tests.unit.batch.conftest import as_text
from tests.unit.conftest import German

DIGEST = "sha256:" + "cd" * 32


class BrokenBooster(lgb.Booster):
    """A real booster whose predict fails, as a corrupt model would."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise lgb.basic.LightGBMError("Unknown model format")


def _batch(table: pa.Table) -> pa.RecordBatch:
    return table.combine_chunks().to_batches()[0]


def _same(rows: list[dict[str, Any]], decisions: tuple[Decision, ...]) -> None:
    assert len(rows) == len(decisions)
    for row, decision in zip(rows, decisions, strict=True):
        assert row["score"] == decision.score  # exactly: the same model call
        assert row["outcome"] == decision.decision
        assert row["fallback"] == decision.fallback
        assert row["reasons"] == [r.code for r in decision.reasons]
        assert row["contributions"] == [r.contribution for r in decision.reasons]


@pytest.mark.parametrize("model", ["booster", "scorecard"])
def test_decisions_equal_serving_decide_batch(
    german: German, table: pa.Table, model: str, request: pytest.FixtureRequest
) -> None:
    scorer = Scorer(german.spec, request.getfixturevalue(model), version=3, digest=DIGEST)
    scored = score_batch(scorer, ColumnEncoder(german.spec), _batch(table), first_row=0)
    assert scored.decisions.schema == DECISION_SCHEMA
    assert scored.rejects.num_rows == 0
    rows = scored.decisions.to_pylist()
    _same(rows, scorer.decide_batch(german.requests))
    assert {r["outcome"] for r in rows} == {"approve", "refer", "decline"}
    assert all(r["reasons"] for r in rows if r["outcome"] != "approve")
    assert [r["row"] for r in rows] == list(range(len(rows)))
    assert {(r["model"], r["version"], r["digest"]) for r in rows} == {
        ("credit-scoring", 3, DIGEST)
    }


def test_explain_gives_reasons_on_every_row_as_serving_does(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    small = table.slice(0, 200)
    scored = score_batch(
        scorer, ColumnEncoder(german.spec), _batch(small), first_row=0, explain=True
    )
    _same(scored.decisions.to_pylist(), scorer.decide_batch(german.requests[:200], explain=True))


def test_a_rules_policy_puts_the_rules_reason_first_as_serving_does(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    text = SPEC.read_text(encoding="utf-8").replace(
        "policy:\n  approve_below: 0.25\n  decline_from: 0.60\n",
        "policy:\n  type: rules\n  rules:\n"
        "    - {if: {score: {gte: 0.7}}, then: decline}\n"
        "    - {if: {credit_amount: {gt: 8000}}, then: refer, reason: Amount above the desk limit}\n"
        "    - {if: {score: {gte: 0.3}}, then: refer}\n"
        "  otherwise: approve\n",
    )
    spec = parse_spec(text).spec
    scorer = Scorer(spec, booster, version=1, digest=DIGEST)
    scored = score_batch(scorer, ColumnEncoder(spec), _batch(as_text(table)), first_row=0)
    rows = scored.decisions.to_pylist()
    _same(rows, scorer.decide_batch(german.requests))
    ruled = [r for r in rows if r["reasons"][:1] == ["rule_2"]]
    assert ruled
    assert all(r["contributions"][0] is None for r in ruled)


def test_rejected_rows_are_left_out_and_numbered_in_the_input(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    small = as_text(table.slice(0, 10))
    amounts = small.column("credit_amount").to_pylist()
    amounts[3] = "lots"
    amounts[7] = None
    small = small.set_column(4, "credit_amount", pa.array(amounts))
    scored = score_batch(scorer, ColumnEncoder(german.spec), _batch(small), first_row=500)
    assert scored.rejects.schema == REJECT_SCHEMA
    assert scored.rejects.to_pylist() == [
        {
            "row": 503,
            "reason": "credit_amount: expected a number, got a string ('lots')",
            "codes": ["wrong_type"],
        },
        {
            "row": 507,
            "reason": "credit_amount: is required: send a value (the spec does not allow it to "
            "be missing)",
            "codes": ["missing"],
        },
    ]
    kept = [i for i in range(10) if i not in (3, 7)]
    assert scored.decisions.column("row").to_pylist() == [500 + i for i in kept]
    _same(scored.decisions.to_pylist(), scorer.decide_batch([german.requests[i] for i in kept]))


def test_a_batch_of_rejects_only_has_no_decisions(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    small = table.slice(0, 2).set_column(1, "duration_in_month", pa.array([0, 500]))
    scored = score_batch(scorer, ColumnEncoder(german.spec), _batch(small), first_row=0)
    assert scored.decisions.num_rows == 0
    assert [r["codes"] for r in scored.rejects.to_pylist()] == [["out_of_range"]] * 2


def test_a_model_that_fails_gives_the_safe_outcome_as_serving_does(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    broken = BrokenBooster(model_str=booster.model_to_string())
    scorer = Scorer(german.spec, broken, version=1, digest=DIGEST)
    small = table.slice(0, 20)
    scored = score_batch(scorer, ColumnEncoder(german.spec), _batch(small), first_row=0)
    rows = scored.decisions.to_pylist()
    _same(rows, scorer.decide_batch(german.requests[:20]))
    assert {(r["outcome"], r["score"], tuple(r["reasons"])) for r in rows} == {
        ("refer", None, ("model_unavailable",))
    }
    assert scored.cause == "LightGBMError: Unknown model format"


def test_scores_only_are_decide_matrix_without_contributions(
    german: German, table: pa.Table, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    matrix = german.matrix
    full = scorer.decide_matrix(matrix)
    bare = decide_scores(scorer, matrix)
    np.testing.assert_array_equal(bare.scores, full.scores)
    np.testing.assert_array_equal(bare.codes, full.codes)
    assert bare.contributions is None
    assert len(bare.explained) == 0
    scored = score_batch(
        scorer, ColumnEncoder(german.spec), _batch(table), first_row=0, reasons=False
    )
    assert scored.decisions.column("score").to_pylist() == full.scores.tolist()
    assert {len(r) for r in scored.decisions.column("reasons").to_pylist()} == {0}
    broken = Scorer(
        german.spec, BrokenBooster(model_str=booster.model_to_string()), version=1, digest=DIGEST
    )
    assert decide_scores(broken, matrix).fallback.all()
