from __future__ import annotations

import dataclasses
import time
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from riskops.context import Context
from riskops.errors import IntegrityError
from riskops.registry.artifacts import load_verified_model
from riskops.registry.versions import get_version
from riskops.scoring.features import RequestInvalid
from riskops.scoring.policy import MODEL_UNAVAILABLE
from riskops.scoring.reasons import contributions_for
from riskops.scoring.scorer import Decision, Scorer
from riskops.spec import parse_spec
from riskops.training.pipeline import train
from tests.conftest import SPEC
from tests.unit.conftest import German

DIGEST = "sha256:" + "ab" * 32


class BrokenBooster(lgb.Booster):
    """A real booster whose predict fails, as a corrupt model or a library bug would."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        raise lgb.basic.LightGBMError("Unknown model format or submodel type in model file")


class MarginBooster(lgb.Booster):
    """A real booster wired wrongly: it answers log-odds, not probabilities."""

    def predict(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("pred_contrib"):
            return super().predict(data, *args, **kwargs)
        return super().predict(data, raw_score=True)


def rows_by_outcome(scorer: Scorer, german: German) -> dict[str, list[int]]:
    scores = scorer.model.predict(german.matrix)
    outcomes = scorer.policy.decide_many(scores)
    return {
        o: [i for i, x in enumerate(outcomes) if x == o] for o in ("approve", "refer", "decline")
    }


def test_decisions_on_german_credit_rows_with_lightgbm(
    german: German, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=3, digest=DIGEST)
    rows = rows_by_outcome(scorer, german)
    assert all(rows.values())  # the data has subjects in every band

    approved = scorer.decide(german.requests[rows["approve"][0]])
    assert approved.decision == "approve"
    assert approved.reasons == ()
    assert (
        approved.score
        == booster.predict(german.matrix[rows["approve"][0] : rows["approve"][0] + 1])[0]
    )
    assert (approved.model, approved.version, approved.digest) == ("credit-scoring", 3, DIGEST)
    assert approved.model_ref == "credit-scoring@3"
    assert not approved.fallback
    assert approved.cause is None
    assert approved.latency_ms > 0

    explained = scorer.decide(german.requests[rows["approve"][0]], explain=True)
    assert explained.score == approved.score
    phi = contributions_for(booster)(german.matrix[rows["approve"][0] : rows["approve"][0] + 1])[0]
    assert explained.reasons == scorer.reasons.top(phi, german.requests[rows["approve"][0]])

    for outcome in ("refer", "decline"):
        i = rows[outcome][0]
        decision = scorer.decide(german.requests[i])
        assert decision.decision == outcome
        assert 1 <= len(decision.reasons) <= 4
        contributions = [r.contribution for r in decision.reasons]
        assert contributions == sorted(contributions, reverse=True)
        assert all(c is not None and c > 0 for c in contributions)
        texts = {f.name: f.reason for f in german.spec.features}
        assert all(r.text == texts[r.code] for r in decision.reasons)
        assert all(r.value == german.requests[i][r.code] for r in decision.reasons)


def test_decisions_with_the_scorecard(german: German, scorecard: Pipeline) -> None:
    scorer = Scorer(german.spec, scorecard, version=1, digest=DIGEST)
    assert scorer.flavor == "sklearn"
    scores = scorecard.predict_proba(german.matrix)[:, 1]
    worst = int(np.argmax(scores))
    decision = scorer.decide(german.requests[worst])
    assert decision.decision == "decline"
    assert decision.score == pytest.approx(scores[worst], abs=1e-12)
    assert 1 <= len(decision.reasons) <= 4
    assert decision.reasons[0].contribution == max(
        contributions_for(scorecard)(german.matrix[worst : worst + 1])[0, :-1]
    )


def test_a_batch_decides_as_single_decisions_do(
    german: German, booster: lgb.Booster, scorecard: Pipeline
) -> None:
    # scikit-learn checks its input on every call, so the scorecard's single decisions are slow.
    for model, requests in ((booster, german.requests[:200]), (scorecard, german.requests[:40])):
        scorer = Scorer(german.spec, model, version=1, digest=DIGEST)
        for explain in (False, True):
            batch = scorer.decide_batch(requests, explain=explain)
            assert len(batch) == len(requests)
            for request, together in zip(requests, batch, strict=True):
                alone = scorer.decide(request, explain=explain)
                assert together.decision == alone.decision
                assert together.score == pytest.approx(alone.score, rel=0, abs=1e-12)
                assert [r.code for r in together.reasons] == [r.code for r in alone.reasons]
                assert [r.contribution for r in together.reasons] == pytest.approx(
                    [r.contribution for r in alone.reasons], rel=0, abs=1e-12
                )
    assert Scorer(german.spec, booster, version=1, digest=DIGEST).decide_batch([]) == ()


def test_lightgbm_batch_and_single_scores_are_identical(
    german: German, booster: lgb.Booster
) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    batch = scorer.decide_batch(german.requests)
    assert [d.score for d in batch] == [scorer.decide(r).score for r in german.requests]
    assert [d.reasons for d in batch] == [scorer.decide(r).reasons for r in german.requests]


def test_a_model_that_raises_gives_the_fallback_decision(
    german: German, booster: lgb.Booster
) -> None:
    broken = BrokenBooster(model_str=booster.model_to_string())
    scorer = Scorer(german.spec, broken, version=2, digest=DIGEST)
    decision = scorer.decide(german.requests[0])
    assert decision.fallback
    assert decision.decision == "refer"
    assert decision.score is None
    assert decision.reasons == (MODEL_UNAVAILABLE,)
    assert decision.cause == "LightGBMError: Unknown model format or submodel type in model file"
    assert decision.model_ref == "credit-scoring@2"
    batch = scorer.decide_batch(german.requests[:3])
    assert [d.decision for d in batch] == ["refer"] * 3
    assert all(d.fallback and d.reasons == (MODEL_UNAVAILABLE,) for d in batch)

    declining = Scorer(german.spec, broken, version=2, digest=DIGEST, safe_outcome="decline")
    assert declining.decide(german.requests[0]).decision == "decline"


def test_a_bad_request_is_an_error_even_when_the_model_is_broken(
    german: German, booster: lgb.Booster
) -> None:
    broken = BrokenBooster(model_str=booster.model_to_string())
    scorer = Scorer(german.spec, broken, version=2, digest=DIGEST)
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)"):
        scorer.decide(german.requests[0] | {"duration_in_month": "24"})
    with pytest.raises(RequestInvalid, match=r"1 problem\(s\)"):
        scorer.decide_batch([german.requests[0], {**german.requests[1], "extra": 1}])


def test_a_score_that_is_not_a_probability_falls_back(german: German, booster: lgb.Booster) -> None:
    wired_wrong = MarginBooster(model_str=booster.model_to_string())
    scorer = Scorer(german.spec, wired_wrong, version=1, digest=DIGEST)
    margins = booster.predict(german.matrix, raw_score=True)
    outside = int(np.argmin(margins))  # a negative log-odds
    decision = scorer.decide(german.requests[outside])
    assert decision.fallback
    assert decision.cause is not None
    assert decision.cause.startswith("the model returned -")
    assert decision.cause.endswith("not a probability")
    batch = scorer.decide_batch(german.requests)
    invalid = (margins < 0) | (margins > 1)
    assert [d.fallback for d in batch] == invalid.tolist()


def test_a_model_that_does_not_fit_its_spec_is_refused(
    german: German, booster: lgb.Booster
) -> None:
    narrow = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1},
        lgb.Dataset(german.matrix[:, :-1], german.prepared.y),
        num_boost_round=3,
    )
    with pytest.raises(IntegrityError, match="takes 16 features but its spec lists 17"):
        Scorer(german.spec, narrow, version=1, digest=DIGEST)


def test_a_decision_is_a_frozen_record_with_a_kind(german: German, booster: lgb.Booster) -> None:
    scorer = Scorer(german.spec, booster, version=1, digest=DIGEST)
    decision = scorer.decide(german.requests[1])
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'score'"):
        decision.score = 0.0  # type: ignore[misc]
    record = decision.as_dict()
    assert record["kind"] == Decision.kind == "riskops.decision@1"
    assert record["decision"] == decision.decision
    assert record["reasons"] == [r.as_dict() for r in decision.reasons]
    assert set(record) == {
        "kind",
        "model",
        "version",
        "digest",
        "score",
        "decision",
        "reasons",
        "fallback",
        "latency_ms",
        "cause",
    }


def test_a_registered_version_loaded_by_its_digest_decides(ctx: Context, german: German) -> None:
    result = train(ctx, SPEC, actor="alice")
    with ctx.store.transaction() as session:
        version = get_version(session, result.ref)
        digest, flavor, spec_yaml = version.digest, version.flavor, version.spec_yaml
    model = load_verified_model(
        ctx.registry, result.ref.name, result.ref.version, digest=digest, flavor=flavor
    )
    scorer = Scorer(parse_spec(spec_yaml).spec, model, version=result.ref.version, digest=digest)
    decisions = scorer.decide_batch(german.requests[:100])
    assert [d.score for d in decisions] == model.predict(german.matrix[:100]).tolist()
    assert {d.digest for d in decisions} == {result.digest}
    assert all(d.reasons for d in decisions if d.decision != "approve")


class SlowBooster(lgb.Booster):
    """A real booster that answers late, as a model on a starved machine would."""

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.03)
        return super().predict(*args, **kwargs)


def test_a_model_over_its_deadline_gives_the_fallback(german: German, booster: lgb.Booster) -> None:
    slow = SlowBooster(model_str=booster.model_to_string())
    late = Scorer(german.spec, slow, version=1, digest=DIGEST, deadline_ms=5)
    decision = late.decide(german.requests[0])
    assert decision.fallback
    assert decision.decision == "refer"
    assert decision.reasons == (MODEL_UNAVAILABLE,)
    assert decision.cause is not None
    assert decision.cause.endswith("over its 5 ms deadline")
    patient = Scorer(german.spec, slow, version=1, digest=DIGEST, deadline_ms=5_000)
    assert not patient.decide(german.requests[0]).fallback
    assert (
        not Scorer(german.spec, booster, version=1, digest=DIGEST, deadline_ms=50)
        .decide(german.requests[0])
        .fallback
    )


def test_a_rules_policy_decides_the_same_one_by_one_and_as_a_matrix(
    german: German, booster: lgb.Booster
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
    assert spec.policy.type == "rules"
    scorer = Scorer(spec, booster, version=1, digest=DIGEST)
    requests = german.requests[:300]
    batch = scorer.decide_batch(requests)
    alone = [scorer.decide(r) for r in requests]
    assert [d.decision for d in batch] == [d.decision for d in alone]
    assert [d.reasons for d in batch] == [d.reasons for d in alone]
    big = [d for d, r in zip(alone, requests, strict=True) if r["credit_amount"] > 8000]
    assert big
    for decision in big:
        if decision.decision == "refer" and decision.score is not None and decision.score < 0.3:
            assert decision.reasons[0].text == "Amount above the desk limit"
    assert {d.decision for d in batch} <= {"approve", "refer", "decline"}
    result = scorer.decide_matrix(scorer.encoder.encode_batch(requests))
    assert result.codes.dtype == np.int8
    assert len(result.explained) == sum(d.decision != "approve" for d in batch)
