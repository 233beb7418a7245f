from __future__ import annotations

import pytest

from riskops.documents.regulation import ANNEX_III_5B, regulatory_position


def test_credit_scoring_is_high_risk_under_annex_iii_5b() -> None:
    position = regulatory_position("credit")
    assert position.high_risk is True
    assert "Annex III point 5(b)" in position.eu_ai_act
    assert position.annex_iv.startswith("Required")
    assert "SR 26-2" in position.model_risk
    assert "PRA SS1/23" in position.model_risk


@pytest.mark.parametrize("kind", ["fraud", "transaction_risk"])
def test_fraud_detection_is_excluded_from_5b_but_not_from_model_risk_or_gdpr(kind: str) -> None:
    position = regulatory_position(kind)
    assert position.high_risk is False
    assert "detecting financial fraud" in position.eu_ai_act
    assert position.annex_iv.startswith("Not required")
    assert "generated for transparency" in position.annex_iv
    assert "blocking a card" in position.gdpr
    assert "Art. 22" in position.gdpr
    assert "SR 11-7" in position.model_risk
    assert position.summary.startswith("Not high-risk")


def test_the_cited_text_is_annex_iii_5b_and_an_unknown_kind_is_treated_as_high_risk() -> None:
    assert ANNEX_III_5B.endswith(
        "with the exception of AI systems used for the purpose of detecting financial fraud"
    )
    unknown = regulatory_position(None)
    assert unknown.high_risk is None
    assert "Treat it as high-risk" in unknown.eu_ai_act
