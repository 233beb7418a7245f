"""Model flavors riskops can train, register and score natively.

``lightgbm``: a ``lightgbm.Booster`` (binary objective); ``sklearn``: any scikit-learn estimator
with ``predict_proba``. Both score a float64 matrix of the spec's encoded features (see
``riskops.datasets.encoding``) and return the probability of the positive class.

This module imports neither MLflow nor pandas: the scoring path uses it. Writing and reading
MLflow model folders is :mod:`riskops.registry.model_files`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskops.errors import InputError

FLAVORS = ("lightgbm", "sklearn")


def flavor_of(model: Any) -> str:
    """The flavor name of a trained model, or an InputError saying what a trainer may return."""
    try:
        import lightgbm

        if isinstance(model, lightgbm.Booster):
            return "lightgbm"
        if isinstance(model, lightgbm.LGBMModel):
            raise InputError(
                "The trainer returned a LightGBM scikit-learn wrapper; riskops serves the native "
                "Booster.",
                hint="Return model.booster_ from the trainer.",
            )
    except ModuleNotFoundError:
        pass
    if hasattr(model, "predict_proba") and hasattr(model, "get_params"):
        return "sklearn"
    raise InputError(
        f"The trainer returned a {type(model).__module__}.{type(model).__name__}, which riskops "
        "cannot score.",
        hint="Return a lightgbm.Booster or a fitted scikit-learn estimator with predict_proba.",
    )


def predict_proba(model: Any, matrix: np.ndarray) -> np.ndarray:
    """Probability of the positive class for each row of ``matrix``."""
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return np.asarray(model.predict(matrix), dtype=np.float64)
    return np.asarray(model.predict_proba(matrix)[:, 1], dtype=np.float64)
