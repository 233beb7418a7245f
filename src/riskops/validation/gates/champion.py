"""Champion gate: on the same validation rows, is the candidate not materially worse than the
version serving in production? A non-inferiority test on the AUC difference. Choosing between
versions is tuning, so it never uses the test partition (``data.split.holdout_size``).

With ``d = AUC(candidate) − AUC(champion)``, margin ``δ = max_auc_drop`` and confidence ``c``
(``gates.champion``), the candidate passes when the one-sided lower confidence bound of ``d``
reaches ``−δ``, i.e. the data rule out (at level ``1 − c``) a loss larger than the margin.
Both scores are measured on the same rows, so their AUCs are correlated; the test accounts for
it in one of two ways (``method``):

* ``delong`` (default): ``L = d − z_c · SE(d)`` with DeLong's standard error of the
  difference (``riskops.statistics.delong``) and ``z_c`` the standard normal quantile at ``c``.
* ``paired_bootstrap``: rows resampled jointly for both scores (``bootstrap_resamples`` times,
  fixed seed); ``L`` is the ``1 − c`` quantile of the replicated differences and ``SE`` their
  standard deviation.

The result ``champion.auc_difference`` has ``L`` as its value and ``−δ`` as its threshold, so
value, comparison and outcome always agree; ``d`` itself is ``difference`` in the evidence,
beside ``se``, ``z = (d + δ) / SE``, the one-sided ``p_value`` of the non-inferiority null
``d ≤ −δ`` (normal approximation), and the two-sided interval ``ci`` at ``c``.

The evidence labels the value (``statistic``) and says what ``z``, ``p_value`` and ``ci``
mean; ``swap_set`` counts the rows whose outcome the release would change, with their event
rates (:func:`swap_set`).

With no production version there is nothing to compare: the result is not applicable, and says
so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm

from riskops.scoring.policy import DecisionPolicy
from riskops.spec import ChampionGate as ChampionConfig
from riskops.statistics.bootstrap import lower_bound, percentile_interval, resample_counts
from riskops.statistics.delong import compare_aucs
from riskops.statistics.discrimination import weighted_metrics
from riskops.validation.gate import GateInput, GateResult, Sample, threshold_check

KIND = "riskops.gate/champion@1"
SEED = 20_261_129


def _normal_test(difference: float, se: float, margin: float) -> tuple[float | None, float | None]:
    """``z = (d + δ) / SE`` and its upper-tail p-value; undefined when ``SE`` is 0."""
    if se <= 0.0:
        return None, None
    z = (difference + margin) / se
    return float(z), float(norm.sf(z))


def delong_evidence(
    sample: Sample, champion_scores: np.ndarray, config: ChampionConfig
) -> dict[str, Any]:
    comparison = compare_aucs(sample.y, sample.scores, champion_scores)
    se = comparison.se
    d = comparison.difference
    one_sided = float(norm.ppf(config.confidence))
    two_sided = float(norm.ppf(0.5 + config.confidence / 2.0))
    z, p_value = _normal_test(d, se, config.max_auc_drop)
    return {
        "method": "delong",
        "candidate_auc": comparison.auc_a,
        "champion_auc": comparison.auc_b,
        "difference": d,
        "se": se,
        "z": z,
        "p_value": p_value,
        "lower_bound": d - one_sided * se,
        "ci": [d - two_sided * se, d + two_sided * se],
    }


def swap_set(data: GateInput, sample: Sample, champion_scores: np.ndarray) -> list[dict[str, Any]]:
    """Who changes outcome between the versions: one row per (champion's outcome, candidate's
    outcome) pair that holds rows, with its rows, events and event rate, under the spec's
    policy (:class:`riskops.scoring.policy.DecisionPolicy`, outcome names from the spec).
    Rows whose outcome differs are the swap set: the decisions the release would change."""
    policy = DecisionPolicy.from_spec(data.spec)
    names = policy.outcomes
    before = policy.codes(champion_scores, sample.matrix)
    after = policy.codes(sample.scores, sample.matrix)
    table = []
    for old in range(len(names)):
        for new in range(len(names)):
            picked = (before == old) & (after == new)
            rows = int(picked.sum())
            if rows == 0:
                continue
            events = int(sample.y[picked].sum())
            table.append(
                {
                    "champion": names[old],
                    "candidate": names[new],
                    "changed": old != new,
                    "rows": rows,
                    "events": events,
                    "event_rate": events / rows,
                }
            )
    return table


def bootstrap_evidence(
    sample: Sample, champion_scores: np.ndarray, config: ChampionConfig
) -> dict[str, Any]:
    counts = resample_counts(rows=len(sample.y), resamples=config.bootstrap_resamples, seed=SEED)
    candidate = weighted_metrics(sample.y, sample.scores, counts)["auc"]
    champion = weighted_metrics(sample.y, champion_scores, counts)["auc"]
    replicates = candidate - champion
    defined = replicates[~np.isnan(replicates)]
    candidate_auc = float(weighted_metrics(sample.y, sample.scores)["auc"][0])
    champion_auc = float(weighted_metrics(sample.y, champion_scores)["auc"][0])
    d = candidate_auc - champion_auc
    se = float(np.std(defined, ddof=1)) if defined.size > 1 else 0.0
    z, p_value = _normal_test(d, se, config.max_auc_drop)
    bound = lower_bound(replicates, config.confidence)
    return {
        "method": "paired_bootstrap",
        "candidate_auc": candidate_auc,
        "champion_auc": champion_auc,
        "difference": d,
        "se": se,
        "z": z,
        "p_value": p_value,
        "lower_bound": bound if bound is not None else d,
        "ci": percentile_interval(replicates, config.confidence).as_list(),
        "bootstrap": {
            "resamples": config.bootstrap_resamples,
            "replicates_used": int(defined.size),
            "seed": SEED,
        },
    }


class ChampionGate:
    name = "champion"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.champion
        # Choosing between versions is tuning: it uses the validation split, so the test
        # partition stays unseen by every choice and its figures stay unbiased.
        sample = data.validation
        if data.champion is None or sample.champion_scores is None:
            return [
                GateResult(
                    gate="champion.auc_difference",
                    kind=KIND,
                    metric="auc_difference_lower_bound",
                    value=None,
                    threshold=-config.max_auc_drop,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence={
                        "champion": None,
                        "method": config.method,
                        "note": "no version serves in production yet",
                        "status": "not_applicable",
                        "not_applicable": "no champion: no version serves in production yet",
                    },
                )
            ]
        events = int(sample.y.sum())
        if min(events, len(sample.y) - events) < 2:
            return [
                GateResult(
                    gate="champion.auc_difference",
                    kind=KIND,
                    metric="auc_difference_lower_bound",
                    value=None,
                    threshold=-config.max_auc_drop,
                    comparison="n/a",
                    severity=config.severity,
                    passed=False,
                    evidence={
                        "champion": str(data.champion.ref),
                        "method": config.method,
                        "rows": len(sample.y),
                        "events": events,
                        "sample": sample.name,
                        "note": f"the {sample.name} rows hold fewer than two of one outcome, "
                        "so the two versions' AUCs cannot be compared",
                    },
                )
            ]
        if config.method == "delong":
            test = delong_evidence(sample, sample.champion_scores, config)
        else:
            test = bootstrap_evidence(sample, sample.champion_scores, config)
        percent = f"{config.confidence:.0%}"
        labels = {
            "statistic": f"one-sided {percent} lower bound of the AUC difference (candidate − "
            "champion); the value judged against −max_auc_drop",
            "z_means": "z = (difference + max_auc_drop) / se: how many standard errors the "
            "difference lies above the largest loss allowed",
            "p_value_means": "one-sided p-value of H0 'the candidate loses more than "
            "max_auc_drop'; below 1 − confidence the loss is ruled out",
            "ci_means": f"two-sided {percent} interval of the difference",
        }
        return [
            threshold_check(
                gate="champion.auc_difference",
                kind=KIND,
                metric="auc_difference_lower_bound",
                value=test["lower_bound"],
                threshold=-config.max_auc_drop,
                comparison=">=",
                severity=config.severity,
                evidence={
                    **test,
                    **labels,
                    "swap_set": swap_set(data, sample, sample.champion_scores),
                    "candidate": str(data.candidate.ref),
                    "champion": str(data.champion.ref),
                    "champion_digest": data.champion.digest,
                    "max_auc_drop": config.max_auc_drop,
                    "confidence": config.confidence,
                    "hypothesis": "non-inferiority: H0 difference <= -max_auc_drop, rejected "
                    "when the one-sided lower bound is >= -max_auc_drop",
                    "rows": len(sample.y),
                    "events": int(sample.y.sum()),
                    "sample": sample.name,
                    "data": f"the candidate's {sample.name} rows, scored by both versions",
                },
            )
        ]
