"""The fraud-detection model's training code: LightGBM on an enriched sample, with its scores
moved to the population's fraud rate.

The training data keeps every fraud and a share of the legitimate transactions (28.6% fraud in
the sample, 0.172% in the population). The trees are fitted on the sample as it is, which keeps
all the frauds' information; the served score must however be a probability at the population's
rate, since the expected-cost policy compares it with cost ratios. The booster's log-odds are
therefore shifted by the prior-shift correction (Dal Pozzolo et al. 2015, who published the
data; :mod:`riskops.statistics.prevalence`)::

    logit p = logit p_sample + log(π / (1 − π)) − log(π_s / (1 − π_s))

π is the ``population_prevalence`` param (keep it equal to the spec's
``data.population_prevalence``), π_s the training rows' fraud rate. The shift is added to every
leaf of the first tree, so the model stays a plain LightGBM booster: serving, TreeSHAP reasons
(whose base value moves by the same constant) and the digest work as for any other.

Training with case weights instead (w⁺ = π/π_s, about 0.006 for a fraud here) leaves the 344
training frauds worth two rows between them, and LightGBM's leaves then barely split on them;
the shift keeps the ranking learnt from the sample and corrects only the level.
"""

from __future__ import annotations

import re
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from riskops.datasets.encoding import encode_frame
from riskops.statistics.prevalence import log_odds_offset

_FIRST_TREE_LEAVES = re.compile(r"(Tree=0\n(?:.*\n)*?leaf_value=)([^\n]*)")
_TREE_SIZES = re.compile(r"(^tree_sizes=)([^\n]*)", re.MULTILINE)


def shift_log_odds(booster: lgb.Booster, offset: float) -> lgb.Booster:
    """A copy of ``booster`` whose raw score (the log-odds) is ``offset`` higher for every row."""
    text = booster.model_to_string()
    found = _FIRST_TREE_LEAVES.search(text)
    if found is None:
        raise ValueError("the booster has no first tree to carry the shift; train at least one")
    leaves = " ".join(repr(float(v) + offset) for v in found.group(2).split())
    shifted = text[: found.start(2)] + leaves + text[found.end(2) :]
    # The header lists each tree's length in bytes; the first tree's has changed.
    sizes = _TREE_SIZES.search(shifted)
    if sizes is not None:
        lengths = [int(v) for v in sizes.group(2).split()]
        lengths[0] += len(leaves) - len(found.group(2))
        new = " ".join(str(v) for v in lengths)
        shifted = shifted[: sizes.start(2)] + new + shifted[sizes.end(2) :]
    return lgb.Booster(model_str=shifted)


def fit_prior_shifted(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Booster:
    """LightGBM on the sample, its scores shifted to ``params['population_prevalence']``."""
    params = dict(params)
    prevalence = params.pop("population_prevalence", None)
    if prevalence is None:
        raise ValueError(
            "params.population_prevalence is missing: give the population's fraud rate "
            "(the spec's data.population_prevalence, e.g. 0.00172)"
        )
    model = lgb.LGBMClassifier(verbose=-1, n_jobs=1, **params)
    model.fit(encode_frame(X), y, feature_name=list(X.columns))
    offset = log_odds_offset(sample_rate=float(np.mean(y)), population_rate=float(prevalence))
    return shift_log_odds(model.booster_, offset)
