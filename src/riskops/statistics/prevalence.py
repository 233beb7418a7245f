"""Sampled data, population rates: case weights and the prior-shift correction.

Fraud data is usually kept *enriched*: every event, a fraction of the non-events. A sample
event rate π_s above the population's π makes every rate that depends on prevalence wrong if
read off the sample as it is — precision, alert rate, calibration, expected cost, PR-AUC. Two
standard corrections restore π (Elkan 2001, *The foundations of cost-sensitive learning*,
IJCAI; Saerens, Latinne & Decaestecker 2002, *Neural Computation* 14:21–41; Dal Pozzolo et al.
2015, *Calibrating probability with undersampling for unbalanced classification*, IEEE SSCI):

* **Case weights** for statistics on the sample::

      w⁺ = π / π_s          (each event)
      w⁻ = (1 − π) / (1 − π_s)   (each non-event)

  so that the weighted event rate Σ w·y / Σ w is π, while within each class every row counts
  the same (recall, false-positive rate and AUC do not change).
* **Prior shift** of a probability p learnt at rate π_s to the population::

      logit p_π = logit p + log(π / (1 − π)) − log(π_s / (1 − π_s))

  exact when the sample kept all events and a random share of the non-events (the class-
  conditional distributions are the population's).

Example::

    >>> round(float(case_weights([1, 0, 0, 0], 0.01)[0]), 4)
    0.04
    >>> round(float(prior_shift([0.5], sample_rate=0.5, population_rate=0.01)[0]), 4)
    0.01
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _rate(value: float, name: str) -> float:
    if not 0.0 < value < 1.0 or math.isnan(value):
        raise ValueError(f"{name} must be a rate strictly between 0 and 1, not {value}")
    return float(value)


def log_odds_offset(*, sample_rate: float, population_rate: float) -> float:
    """``log(π / (1 − π)) − log(π_s / (1 − π_s))``: what the prior shift adds to a log-odds."""
    pi = _rate(population_rate, "population_rate")
    pi_s = _rate(sample_rate, "sample_rate")
    return math.log(pi / (1.0 - pi)) - math.log(pi_s / (1.0 - pi_s))


def prior_shift(
    scores: Sequence[float] | np.ndarray, *, sample_rate: float, population_rate: float
) -> np.ndarray:
    """Probabilities learnt at ``sample_rate``, moved to ``population_rate`` (module docstring)."""
    offset = log_odds_offset(sample_rate=sample_rate, population_rate=population_rate)
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-15, 1.0 - 1e-15)
    shifted = np.log(p) - np.log1p(-p) + offset
    return np.asarray(1.0 / (1.0 + np.exp(-shifted)), dtype=np.float64)


def case_weights(y: Sequence[int] | np.ndarray, population_rate: float) -> np.ndarray:
    """The weight of each row so that the weighted event rate of ``y`` is ``population_rate``.

    π_s is the event rate of ``y`` itself; a sample with one class only cannot be reweighted.
    """
    labels = np.asarray(y, dtype=np.int64)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be a 1-D array of 0 (non-event) and 1 (event)")
    pi = _rate(population_rate, "population_rate")
    events = int(labels.sum())
    if events == 0 or events == len(labels):
        raise ValueError("the sample holds one class only; it cannot be reweighted")
    pi_s = events / len(labels)
    return np.where(labels == 1, pi / pi_s, (1.0 - pi) / (1.0 - pi_s))


def weighting_evidence(y: Sequence[int] | np.ndarray, population_rate: float) -> dict[str, Any]:
    """What a report says about the weights it used: both rates and both weights."""
    labels = np.asarray(y, dtype=np.int64)
    pi_s = float(labels.mean())
    pi = _rate(population_rate, "population_rate")
    return {
        "method": "case weights w+ = π/π_s for events, w− = (1−π)/(1−π_s) for non-events",
        "population_prevalence": pi,
        "sample_prevalence": pi_s,
        "event_weight": pi / pi_s,
        "non_event_weight": (1.0 - pi) / (1.0 - pi_s),
        "note": f"reweighted to {pi * 100:.3g}% (the sample holds {pi_s:.1%} events)",
    }
