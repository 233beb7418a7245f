"""Calibration gate: on the held-out rows (the test partition when the spec keeps one, else
out-of-time rows when the spec has them, else the validation split), do the scores match the
default rates observed?

Statistics (formulas and sources in ``riskops.statistics.calibration``): the expected
calibration error over ``bins`` equal-width score bands, the calibration slope and intercept of
``logit P(y=1) = a + b · logit(p)``, and the Hosmer–Lemeshow test over deciles of risk.

Results, each from a threshold in ``gates.calibration``:

* ``calibration.ece`` — ECE ``<= max_ece`` (reported as ``n/a`` when unset).
* ``calibration.slope_min`` and ``calibration.slope_max`` — the slope against each end of
  ``slope_range``: ``slope >= low`` and ``slope <= high``. A range is two one-sided checks;
  as two results each keeps a real threshold and comparison, and the one that fails says in
  which direction the scores are off (too extreme below the range, too timid above it).
  When the fit has no finite maximum (scores that separate the outcomes perfectly), one
  failed ``calibration.slope`` result with no value takes the pair's place.
* ``calibration.intercept`` — ``|a| <= max_abs_intercept`` (the value is ``|a|``; the signed
  ``a`` is in the evidence).
* ``calibration.hosmer_lemeshow_p`` — p-value ``>= min_hosmer_lemeshow_p``.

With ``data.population_prevalence`` in the spec, the table, ECE and fit use the case weights
that restore it (the evidence's ``weights`` says so, "reweighted to 0.172%"): the scores are
judged as population probabilities. Hosmer–Lemeshow is not defined for weighted rows; it is
then reported as not computed (a ``min_hosmer_lemeshow_p`` fails with that note).

Every result carries the same evidence: all values, the fit's standard errors, the
Hosmer–Lemeshow groups and the calibration table by score band under ``"table"``.

The test's power grows with n, so its evidence says what it can see: ``hosmer_lemeshow_power``
holds the gap between a group's mean score and its event rate that the test detects with 80%
power at ``min_hosmer_lemeshow_p`` (0.05 when unset) on these rows, the same at ten times the
rows, and a ``statement`` in words. At a few hundred rows the gap is several points; at
thousands it is a fraction of a point, which is why ECE and the slope are the judged measures
and Hosmer–Lemeshow is best left unset (its numbers stay in the evidence) or sized to the gap
that matters.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from riskops.spec import CalibrationGate as CalibrationConfig
from riskops.statistics.calibration import (
    calibration_table,
    expected_calibration_error,
    hosmer_lemeshow,
    hosmer_lemeshow_power,
    logistic_recalibration,
)
from riskops.validation.gate import (
    GateInput,
    GateResult,
    Sample,
    one_class_result,
    population_weights,
    threshold_check,
)

KIND = "riskops.gate/calibration@1"
HOSMER_LEMESHOW_GROUPS = 10
DEFAULT_HL_ALPHA = 0.05
"""The level the power statement uses when ``min_hosmer_lemeshow_p`` is unset."""


def calibration_evidence(
    sample: Sample, config: CalibrationConfig, weights: np.ndarray | None = None
) -> dict[str, Any]:
    """Every calibration statistic of one scored sample, with its table and groups; with case
    ``weights``, their weighted forms (and no Hosmer–Lemeshow test)."""
    fit = logistic_recalibration(sample.y, sample.scores, weights=weights)
    hl: dict[str, Any] = (
        hosmer_lemeshow(sample.y, sample.scores, groups=HOSMER_LEMESHOW_GROUPS).as_dict()
        if weights is None
        else {"statistic": None, "df": None, "p_value": None, "groups": []}
    )
    power = hosmer_lemeshow_power(
        hl["groups"], alpha=config.min_hosmer_lemeshow_p or DEFAULT_HL_ALPHA
    )
    return {
        "sample": sample.name,
        "data": f"{sample.name} rows",
        "rows": len(sample.y),
        "events": int(sample.y.sum()),
        "bins": config.bins,
        "ece": expected_calibration_error(
            sample.y, sample.scores, bins=config.bins, weights=weights
        ),
        "weighted_mean_score": float(np.average(sample.scores, weights=weights)),
        "weighted_event_rate": float(np.average(sample.y, weights=weights)),
        # Without a finite maximum the coefficients are not estimates; none is recorded.
        "slope": fit.slope if fit.converged else None,
        "intercept": fit.intercept if fit.converged else None,
        "slope_se": fit.slope_se,
        "intercept_se": fit.intercept_se,
        "calibration_in_the_large": fit.calibration_in_the_large,
        "fit_converged": fit.converged,
        "slope_range": list(config.slope_range) if config.slope_range is not None else None,
        "hosmer_lemeshow": hl,
        # beside the test, not inside it, so that documents list each of its values
        "hosmer_lemeshow_power": power.as_dict() if power is not None else None,
        "table": [
            band.as_dict()
            for band in calibration_table(
                sample.y, sample.scores, bins=config.bins, weights=weights
            )
        ],
    }


class CalibrationGate:
    name = "calibration"

    def evaluate(self, data: GateInput) -> list[GateResult]:
        config = data.spec.gates.calibration
        sample = data.held_out
        events = int(sample.y.sum())
        if events == 0 or events == len(sample.y):
            return [_unmeasurable(sample, config)]
        weights, weighting = population_weights(data.spec, sample)
        evidence = calibration_evidence(sample, config, weights)
        evidence["weights"] = weighting

        def check(
            name: str,
            metric: str,
            value: float,
            threshold: float,
            comparison: Literal[">=", "<="],
        ) -> GateResult:
            return threshold_check(
                gate=f"calibration.{name}",
                kind=KIND,
                metric=metric,
                value=value,
                threshold=threshold,
                comparison=comparison,
                severity=config.severity,
                evidence=evidence,
            )

        results: list[GateResult] = []
        if config.max_ece is not None:
            results.append(check("ece", "ece", evidence["ece"], config.max_ece, "<="))
        else:
            results.append(
                GateResult(
                    gate="calibration.ece",
                    kind=KIND,
                    metric="ece",
                    value=evidence["ece"],
                    threshold=None,
                    comparison="n/a",
                    severity=config.severity,
                    passed=True,
                    evidence=evidence,
                )
            )
        fitted = evidence["fit_converged"]
        if config.slope_range is not None:
            low, high = config.slope_range
            if fitted:
                results.append(check("slope_min", "slope", evidence["slope"], low, ">="))
                results.append(check("slope_max", "slope", evidence["slope"], high, "<="))
            else:
                results.append(_not_fitted("slope", low, evidence, config))
        if config.max_abs_intercept is not None:
            if fitted:
                results.append(
                    check(
                        "intercept",
                        "abs_intercept",
                        abs(evidence["intercept"]),
                        config.max_abs_intercept,
                        "<=",
                    )
                )
            else:
                results.append(_not_fitted("intercept", config.max_abs_intercept, evidence, config))
        if config.min_hosmer_lemeshow_p is not None:
            p_value = evidence["hosmer_lemeshow"]["p_value"]
            if p_value is not None:
                results.append(
                    check(
                        "hosmer_lemeshow_p",
                        "hosmer_lemeshow_p",
                        p_value,
                        config.min_hosmer_lemeshow_p,
                        ">=",
                    )
                )
            else:
                results.append(
                    GateResult(
                        gate="calibration.hosmer_lemeshow_p",
                        kind=KIND,
                        metric="hosmer_lemeshow_p",
                        value=None,
                        threshold=config.min_hosmer_lemeshow_p,
                        comparison="n/a",
                        severity=config.severity,
                        passed=False,
                        evidence={
                            **evidence,
                            "note": (
                                "fewer than 3 distinct risk groups: the scores take too few "
                                "values for a Hosmer–Lemeshow test"
                                if weights is None
                                else "Hosmer–Lemeshow is not defined for case-weighted rows "
                                "(data.population_prevalence); judge calibration by ECE and "
                                "slope, or remove min_hosmer_lemeshow_p"
                            ),
                        },
                    )
                )
        return results


def _not_fitted(
    metric: str, threshold: float, evidence: dict[str, Any], config: CalibrationConfig
) -> GateResult:
    return GateResult(
        gate=f"calibration.{metric}",
        kind=KIND,
        metric=metric,
        value=None,
        threshold=threshold,
        comparison="n/a",
        severity=config.severity,
        passed=False,
        evidence={
            **evidence,
            "note": "the logistic recalibration has no finite fit: the scores separate the "
            "outcomes perfectly on these rows, so slope and intercept are not estimable",
        },
    )


def _unmeasurable(sample: Sample, config: CalibrationConfig) -> GateResult:
    return one_class_result(
        gate="calibration.ece",
        kind=KIND,
        metric="ece",
        threshold=config.max_ece,
        severity=config.severity,
        sample=sample,
        why="calibration needs both outcomes",
    )
