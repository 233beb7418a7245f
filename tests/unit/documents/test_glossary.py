"""Metric definitions: each gate or metric name finds the term it is about."""

from __future__ import annotations

import pytest

from riskops.documents.glossary import GLOSSARY, term_for, terms_for


@pytest.mark.parametrize(
    ("name", "term"),
    [
        ("performance.auc", "AUC"),
        ("validation_auc", "AUC"),
        ("champion.auc_difference", "AUC"),
        ("performance.pr_auc", "PR-AUC"),
        ("performance.ks", "KS"),
        ("calibration.ece", "ECE"),
        ("calibration.hosmer_lemeshow_p", "Hosmer–Lemeshow p"),
        ("stability.score_psi", "PSI"),
        ("fairness.personal_status_and_sex.approval_rate_ratio", "Approval rate ratio"),
        ("fairness.age_in_years.equal_opportunity_difference", "Equal opportunity difference"),
        ("detection.recall_at_fpr", "Recall at FPR"),
    ],
)
def test_a_name_finds_its_term(name: str, term: str) -> None:
    found = term_for(name)
    assert found is not None
    assert found.term == term


def test_a_name_inside_another_word_is_not_a_match() -> None:
    assert term_for("explainability.reason_texts") is None
    assert term_for("data_quality.tasks_seen") is None


def test_terms_come_once_in_glossary_order() -> None:
    terms = terms_for(["stability.score_psi", "performance.auc", "validation_auc"])
    assert [t.term for t in terms] == ["AUC", "PSI"]
    assert all(t.definition.endswith(".") for t in GLOSSARY)
