"""The one per-batch core of both engines: an Arrow batch of subjects in, its decisions and its
rejects out as Arrow batches.

:func:`score_batch` is what the local engine runs on each partition in its worker processes
and what the Spark engine runs inside ``mapInPandas``::

    encoded   = ColumnEncoder.encode(batch)               # vectorised checks; rejects set aside
    decisions = scorer.decide_matrix(matrix[valid])       # scores, outcomes, contributions
    reasons   = the top-k positive contributions per explained row, as list columns

The decisions are serving's (:meth:`Scorer.decide_batch`): the same scores, bit for bit, the
same outcomes, and the same reason codes in the same order — a rule's reason first, then up to
``k`` features by descending contribution, ties in the spec's order; the safe outcome with
``model_unavailable`` where the model could not answer. Reasons are given for every
non-favourable row (every valid row with ``explain``, none with ``reasons=False``).

Output columns (:data:`DECISION_SCHEMA`): ``row`` (the subject's 0-based row number in the
input), ``score`` (null on a fallback), ``outcome``, ``reasons`` (reason codes: feature names,
``rule_<i>``, ``model_unavailable``), ``contributions`` (each reason's contribution to the
log-odds margin; null for a rule's or the fallback's), ``fallback``, ``model``, ``version``,
``digest``. Rejects (:data:`REJECT_SCHEMA`): ``row``, ``reason``, ``codes``.

Example::

    scored = score_batch(scorer, encoder, batch, first_row=0)
    scored.decisions.num_rows + scored.rejects.num_rows == batch.num_rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskops.batch.columns import ColumnEncoder, Encoded
from riskops.scoring.policy import FAVOURABLE, MODEL_UNAVAILABLE
from riskops.scoring.scorer import MatrixDecisions, Scorer
from riskops.scoring.scores_only import decide_scores

DECISION_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("contributions", pa.list_(pa.float64()), nullable=False),
        pa.field("fallback", pa.bool_(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
    ]
)
"""The columns of a decisions file, in order."""

REJECT_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("codes", pa.list_(pa.string()), nullable=False),
    ]
)
"""The columns of a rejects file: the input row, every problem (``feature: message``), and
the problems' codes (``missing``, ``out_of_range``, ``wrong_type``, ``unknown_category``,
``invalid``)."""


@dataclass(frozen=True)
class ScoredBatch:
    """What :func:`score_batch` returns: the ``decisions`` of the valid rows, the ``rejects``,
    the input ``digest`` of the batch's feature values, and the model's failure (``cause``)
    when some rows fell back."""

    decisions: pa.RecordBatch
    rejects: pa.RecordBatch
    digest: str
    cause: str | None


def score_batch(
    scorer: Scorer,
    encoder: ColumnEncoder,
    batch: pa.RecordBatch,
    *,
    first_row: int,
    rows: np.ndarray | None = None,
    reasons: bool = True,
    explain: bool = False,
) -> ScoredBatch:
    """Decisions and rejects of ``batch`` (see the module docstring). Its rows are numbered
    from ``first_row``, or by ``rows`` (int64, one per row) when given."""
    numbers = (
        np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
        if rows is None
        else np.asarray(rows, dtype=np.int64)
    )
    return score_encoded(scorer, encoder.encode(batch), numbers, reasons=reasons, explain=explain)


def score_encoded(
    scorer: Scorer,
    encoded: Encoded,
    rows: np.ndarray,
    *,
    reasons: bool = True,
    explain: bool = False,
) -> ScoredBatch:
    """:func:`score_batch` of a batch already encoded, ``rows`` its input row numbers."""
    valid = np.flatnonzero(encoded.valid)
    matrix = encoded.matrix if len(valid) == len(encoded.valid) else encoded.matrix[valid]
    cause: str | None = None
    if len(valid) == 0:
        result = MatrixDecisions.failed(0, scorer.policy, "")
    else:
        if reasons:
            result = scorer.decide_matrix(matrix, explain=explain)
        else:
            result = decide_scores(scorer, matrix)
        cause = result.cause
    return ScoredBatch(
        decision_batch(scorer, result, rows[valid]),
        reject_batch(encoded, rows),
        encoded.digest,
        cause,
    )


def decision_batch(scorer: Scorer, result: MatrixDecisions, rows: np.ndarray) -> pa.RecordBatch:
    """The decisions of a :meth:`Scorer.decide_matrix` result as Arrow columns, ``rows`` the
    input row numbers of its rows."""
    m = len(rows)
    policy = scorer.policy
    names = list(scorer.spec.feature_names)
    width = len(names)
    # The reason codes a row can have: a feature, a rule's reason, the fallback's.
    rule_slot = np.full(max(len(policy.rules), 1), -1, dtype=np.int64)
    for i, rule in enumerate(policy.rules):
        if rule.reason is not None:
            rule_slot[i] = len(names)
            names.append(rule.reason.code)
    unavailable = len(names)
    names.append(MODEL_UNAVAILABLE.code)

    counts = np.zeros(m, dtype=np.int64)
    # A rule's reason comes first, for a non-favourable outcome the rule decided.
    ruled = np.zeros(m, dtype=bool)
    if policy.rules:
        fired = result.rules
        has_rule = fired >= 0
        ruled[has_rule] = rule_slot[fired[has_rule]] >= 0
        ruled &= (result.codes != FAVOURABLE) & ~result.fallback
    counts += ruled
    top_k = scorer.reasons.k
    explained = result.explained
    order = top = positive = None
    if result.contributions is not None and len(explained):
        phi = result.contributions[:, :width]
        # ReasonCodes.top: largest first, ties in the spec's order (a stable sort), positive only.
        order = np.argsort(-phi, axis=1, kind="stable")[:, :top_k]
        top = np.take_along_axis(phi, order, axis=1)
        positive = top > 0.0
        # Positive values come first in a descending order: each row's reasons are a prefix.
        counts[explained] += positive.sum(axis=1)
    counts[result.fallback] = 1
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    codes = np.empty(total, dtype=np.int64)
    contributions = np.full(total, np.nan)
    starts = offsets[:-1]
    ruled_rows = np.flatnonzero(ruled)
    codes[starts[ruled_rows]] = rule_slot[result.rules[ruled_rows]]
    if order is not None and top is not None and positive is not None:
        r, j = np.nonzero(positive)
        where = starts[explained[r]] + ruled[explained[r]] + j
        codes[where] = order[r, j]
        contributions[where] = top[r, j]
    fallback_rows = np.flatnonzero(result.fallback)
    codes[starts[fallback_rows]] = unavailable
    list_offsets = pa.array(offsets.astype(np.int32), pa.int32())  # a partition is far smaller
    reason_codes = pc.take(pa.array(names, pa.string()), pa.array(codes))
    reason_values = pa.array(contributions, pa.float64(), mask=np.isnan(contributions))
    scores = pa.array(result.scores, pa.float64(), mask=result.fallback)
    outcome = pc.take(
        pa.array(list(policy.outcomes), pa.string()), pa.array(result.codes.astype(np.int64))
    )
    constant = pa.array(np.zeros(m, dtype=np.int64))
    columns = [
        pa.array(rows, pa.int64()),
        scores,
        outcome,
        pa.ListArray.from_arrays(list_offsets, reason_codes),
        pa.ListArray.from_arrays(list_offsets, reason_values),
        pa.array(result.fallback, pa.bool_()),
        pc.take(pa.array([scorer.spec.name], pa.string()), constant),
        pa.array(np.full(m, scorer.version, dtype=np.int32), pa.int32()),
        pc.take(pa.array([scorer.digest], pa.string()), constant),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=DECISION_SCHEMA)


def reject_batch(encoded: Encoded, rows: np.ndarray) -> pa.RecordBatch:
    """The rejects of an encoded batch as Arrow columns, ``rows`` its input row numbers."""
    rejects = encoded.rejects
    return pa.RecordBatch.from_arrays(
        [
            pa.array([int(rows[r.position]) for r in rejects], pa.int64()),
            pa.array([r.reason for r in rejects], pa.string()),
            pa.array([list(r.codes) for r in rejects], pa.list_(pa.string())),
        ],
        schema=REJECT_SCHEMA,
    )
