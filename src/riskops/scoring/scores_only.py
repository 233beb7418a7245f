"""Decisions without reason codes: scores and outcomes of an encoded matrix, nothing else.

:meth:`Scorer.decide_matrix <riskops.scoring.scorer.Scorer.decide_matrix>` always computes the
contributions of the non-favourable rows, since an adverse decision must state its reasons.
A batch job that only ranks a population (a scores-only run: pricing tests, portfolio
monitoring) does not need them, and TreeSHAP costs about 20 times a prediction. This is
``decide_matrix`` with the contribution step left out; scores, outcome codes, fired rules and
the fallback of rows the model could not answer are the same, array for array.

Example::

    result = decide_scores(scorer, matrix)
    result.scores, result.codes, result.contributions   # contributions is None
"""

from __future__ import annotations

import numpy as np

from riskops.scoring.scorer import MatrixDecisions, Scorer


def decide_scores(scorer: Scorer, matrix: np.ndarray) -> MatrixDecisions:
    """Scores and outcome codes of the encoded (m, n) ``matrix``, with no contributions
    (``explained`` empty). A row whose score is not a probability, or every row when the
    model raises, gets the safe outcome (``fallback``), as in ``decide_matrix``."""
    m = len(matrix)
    policy = scorer.policy
    try:
        scores = np.asarray(scorer._predict(matrix), dtype=np.float64).reshape(-1)
        if len(scores) != m:
            raise ValueError(f"the model returned {len(scores)} scores for {m} rows")
        with np.errstate(invalid="ignore"):
            valid = (scores >= 0.0) & (scores <= 1.0)
        codes, fired = policy.codes_and_rules(scores, matrix)
    except Exception as exc:  # the model's failure becomes the safe outcome, as in decide()
        return MatrixDecisions.failed(m, policy, f"{type(exc).__name__}: {exc}")
    fallback = np.zeros(m, dtype=bool)
    cause: str | None = None
    if not valid.all():
        bad = np.flatnonzero(~valid)
        fallback[bad] = True
        codes[bad] = policy.outcomes.index(policy.safe_outcome or "")
        fired[bad] = -1
        cause = f"the model returned {scores[bad[0]]!r}, not a probability"
    return MatrixDecisions(scores, codes, fallback, fired, np.empty(0, dtype=np.int64), None, cause)
