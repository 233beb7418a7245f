"""Model flavors riskops can train, register and score natively.

``lightgbm``: a ``lightgbm.Booster`` (binary objective); ``sklearn``: any scikit-learn estimator
with ``predict_proba``. Both score a float64 matrix of the spec's encoded features (see
``riskops.datasets.encoding``) and return the probability of the positive class.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
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


def _requirements(*packages: str) -> list[str]:
    pins = []
    for name in packages:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def save_model(
    model: Any,
    path: Path,
    *,
    feature_names: list[str],
    example: np.ndarray,
) -> str:
    """Write ``model`` as an MLflow model folder at ``path``; returns its flavor."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    flavor = flavor_of(model)
    example_frame = pd.DataFrame(example, columns=feature_names)
    signature = infer_signature(example_frame, predict_proba(model, example))
    if flavor == "lightgbm":
        mlflow.lightgbm.save_model(
            model,
            str(path),
            signature=signature,
            input_example=example_frame,
            pip_requirements=_requirements("mlflow", "lightgbm", "numpy", "pandas"),
        )
    else:
        mlflow.sklearn.save_model(
            model,
            str(path),
            signature=signature,
            input_example=example_frame,
            pip_requirements=_requirements(
                "mlflow", "scikit-learn", "numpy", "pandas", "cloudpickle"
            ),
            serialization_format="cloudpickle",
        )
    return flavor


def load_native(path: Path, flavor: str) -> Any:
    """Load the native model object (no pyfunc wrapper) from an MLflow model folder."""
    import mlflow

    if flavor == "lightgbm":
        return mlflow.lightgbm.load_model(str(path))
    if flavor == "sklearn":
        return mlflow.sklearn.load_model(str(path))
    raise InputError(f"Unknown model flavor {flavor!r}. Valid flavors are: {', '.join(FLAVORS)}.")
