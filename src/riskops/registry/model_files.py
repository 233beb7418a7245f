"""MLflow model folders: writing a trained model with its signature and input example, and
loading the native model object (no pyfunc wrapper) back from one."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from riskops.errors import InputError
from riskops.registry.flavors import FLAVORS, flavor_of, predict_proba


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
