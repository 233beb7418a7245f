"""What each metric in the documents means, so that it is defined where it first appears.

Every document opens with the definitions of the metrics it goes on to use (those named by its
gate results and training metrics), and the HTML documents also give each gate's metric its
definition as a tooltip. The definitions state the formula in words and which way is better;
the statistics' own docstrings (:mod:`riskops.statistics`) give the sources.

Example::

    [t.term for t in terms_for(["performance.auc", "calibration.ece"])]
    # ['AUC', 'ECE']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """A metric: its short name, its full name, what it is, and the names it goes by in
    gate results and records (``auc``, ``validation_auc``)."""

    term: str
    name: str
    definition: str
    keys: tuple[str, ...]

    @property
    def text(self) -> str:
        """The term and its definition in one line (a tooltip)."""
        return f"{self.term} ({self.name}): {self.definition}"


GLOSSARY: tuple[Term, ...] = (
    Term(
        "AUC",
        "area under the ROC curve",
        "the probability that a randomly chosen event scores higher than a randomly chosen "
        "non-event; 0.5 is no skill, 1 a perfect ranking.",
        ("auc", "validation_auc", "auc_difference", "auc_difference_lower_bound"),
    ),
    Term("Gini", "Gini coefficient", "2 × AUC − 1; 0 is no skill, 1 a perfect ranking.", ("gini",)),
    Term(
        "KS",
        "Kolmogorov–Smirnov statistic",
        "the largest gap between the cumulative score distributions of events and "
        "non-events; 0 is no separation, 1 complete separation.",
        ("ks",),
    ),
    Term(
        "PR-AUC",
        "area under the precision–recall curve (average precision)",
        "mean precision over the recall levels at which events are found; a score without "
        "information gets the event rate, 1 is perfect.",
        ("pr_auc",),
    ),
    Term(
        "Brier score",
        "mean squared error of the probability",
        "the mean of (predicted probability − outcome)² with outcome 1 for an event and 0 "
        "otherwise; lower is better.",
        ("brier",),
    ),
    Term(
        "Log-loss",
        "logarithmic loss",
        "the mean of −log of the probability the model gave to the outcome that happened; "
        "lower is better.",
        ("log_loss",),
    ),
    Term(
        "ECE",
        "expected calibration error",
        "the row-weighted mean, over score bins, of |mean predicted probability − observed "
        "event rate|; 0 is perfectly calibrated.",
        ("ece",),
    ),
    Term(
        "Calibration slope and intercept",
        "logistic recalibration",
        "the coefficients of a logistic regression of the outcome on the logit of the score: "
        "slope 1 and intercept 0 when the probabilities are right, slope below 1 when they are "
        "too extreme.",
        ("slope", "intercept", "abs_intercept"),
    ),
    Term(
        "Hosmer–Lemeshow p",
        "Hosmer–Lemeshow goodness-of-fit test",
        "the p-value of a chi-square test of observed against expected events across score "
        "bins; a small value says the probabilities do not fit.",
        ("hosmer_lemeshow_p", "hosmer_lemeshow"),
    ),
    Term(
        "PSI",
        "population stability index",
        "Σ (actual share − expected share) × ln(actual share / expected share) over the bins "
        "of the score in two samples; about 0.1 is a small shift and 0.25 a large one. CSI "
        "(characteristic stability index) is the same for one feature.",
        ("psi", "score_psi", "csi", "max_csi", "feature_csi"),
    ),
    Term(
        "Approval rate ratio",
        "adverse impact ratio",
        "a group's approval rate divided by that of the most-approved group compared; the "
        "four-fifths rule asks at least 0.8.",
        ("approval_rate_ratio",),
    ),
    Term(
        "Equal opportunity difference",
        "gap in true-positive rates of approval",
        "the largest minus the smallest rate at which good (non-event) applicants are "
        "approved, across the groups compared; 0 is equal treatment.",
        ("equal_opportunity_difference",),
    ),
    Term(
        "Calibration difference",
        "gap in calibration between groups",
        "the largest minus the smallest (mean score − observed event rate) across the groups "
        "compared; 0 when the score is as right for every group.",
        ("calibration_difference",),
    ),
    Term(
        "Recall at FPR",
        "recall at a fixed false-positive rate",
        "the share of events caught when the cut-off lets through only the given share of "
        "non-events as false alarms.",
        ("recall_at_fpr",),
    ),
    Term(
        "Alert rate",
        "share of cases alerted",
        "the share of all cases the policy sends to review or blocks.",
        ("alert_rate",),
    ),
    Term(
        "Review share",
        "share of cases sent to a person",
        "the share of cases in the policy's review band, decided by a person.",
        ("review_share",),
    ),
    Term(
        "Score change",
        "robustness to small input changes",
        "the mean (or largest) absolute change of the score when every numeric input is moved "
        "by the given relative amount either way.",
        ("mean_abs_score_change", "max_abs_score_change"),
    ),
)


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"(^|[._]){re.escape(key)}($|[._])")


_PATTERNS = {t.term: [_pattern(k) for k in t.keys] for t in GLOSSARY}


def term_for(name: str) -> Term | None:
    """The term a gate or metric name (``fairness.sex.approval_rate_ratio``) is about: the one
    with the longest matching key, so ``pr_auc`` is PR-AUC, not AUC."""
    best: tuple[int, Term] | None = None
    for term in GLOSSARY:
        for key, pattern in zip(term.keys, _PATTERNS[term.term], strict=True):
            if pattern.search(name) and (best is None or len(key) > best[0]):
                best = (len(key), term)
    return best[1] if best is not None else None


def terms_for(names: Iterable[str]) -> tuple[Term, ...]:
    """The terms the given gate and metric names use, in glossary order."""
    found = {t.term for n in names if (t := term_for(n)) is not None}
    return tuple(t for t in GLOSSARY if t.term in found)
