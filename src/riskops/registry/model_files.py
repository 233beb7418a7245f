"""MLflow model folders: writing a trained model with its signature and input example, and
loading the native model object (no pyfunc wrapper) back from one.

Loading does not go through MLflow: it reads the folder's ``MLmodel`` file (YAML) and opens
the file its flavor names, so that a scoring process needs only the model's own library.

- ``lightgbm``: ``flavors.lightgbm.data`` is LightGBM's text model file, opened with
  ``lightgbm.Booster(model_file=...)``; riskops trains and serves Boosters only
  (``model_class: lightgbm.basic.Booster``).
- ``sklearn``: ``flavors.sklearn.pickled_model`` is the estimator, serialised as
  ``serialization_format`` says: ``cloudpickle`` (what riskops writes) or ``pickle``.

A pickle runs code when it is read, so :func:`load_native` is only ever called on a folder whose
digest was checked against the approved one (:func:`riskops.registry.artifacts.load_verified_model`).

Example::

    booster = load_native(Path("/tmp/model"), "lightgbm")     # a lightgbm.Booster
"""

from __future__ import annotations

import pickle
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

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
    """The native model object (no pyfunc wrapper) of the MLflow model folder at ``path``."""
    if flavor not in FLAVORS:
        raise InputError(
            f"Unknown model flavor {flavor!r}. Valid flavors are: {', '.join(FLAVORS)}."
        )
    conf = _flavor_conf(path, flavor)
    if flavor == "lightgbm":
        return _load_lightgbm(path, conf)
    return _load_sklearn(path, conf)


def _flavor_conf(path: Path, flavor: str) -> dict[str, Any]:
    mlmodel = path / "MLmodel"
    try:
        raw = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(
            f"The model folder {path} has no readable MLmodel file: {exc}",
            hint="The artifact is not an MLflow model folder; register the version again.",
        ) from exc
    flavors = raw.get("flavors") if isinstance(raw, dict) else None
    conf = flavors.get(flavor) if isinstance(flavors, dict) else None
    if not isinstance(conf, dict):
        found = ", ".join(sorted(flavors)) if isinstance(flavors, dict) else "none"
        raise InputError(
            f"The MLmodel file of {path} has no {flavor!r} flavor (flavors: {found}).",
            hint="The version was recorded with another flavor than its artifact holds; "
            "register the version again.",
        )
    return conf


def _member(path: Path, conf: dict[str, Any], key: str) -> Path:
    """The file named by ``conf[key]``, which must lie inside the model folder."""
    name = conf.get(key)
    if not isinstance(name, str) or not name:
        raise InputError(f"The MLmodel file of {path} names no model file ({key}).")
    root = path.resolve()
    member = (root / name).resolve()
    if not member.is_relative_to(root) or not member.is_file():
        raise InputError(
            f"The MLmodel file of {path} names {name!r} as the model file, which is not a "
            "file inside the model folder."
        )
    return member


def _load_lightgbm(path: Path, conf: dict[str, Any]) -> Any:
    import lightgbm

    model_class = conf.get("model_class", "lightgbm.basic.Booster")
    if model_class != "lightgbm.basic.Booster":
        raise InputError(
            f"The LightGBM model in {path} is a {model_class}; riskops serves the native Booster.",
            hint="Return model.booster_ from the trainer and train a new version.",
        )
    return lightgbm.Booster(model_file=str(_member(path, conf, "data")))


def _load_sklearn(path: Path, conf: dict[str, Any]) -> Any:
    file = _member(path, conf, "pickled_model")
    serialization = conf.get("serialization_format", "cloudpickle")
    if serialization not in ("cloudpickle", "pickle"):
        raise InputError(
            f"The scikit-learn model in {path} is serialised as {serialization!r}; riskops "
            "reads 'cloudpickle' and 'pickle'.",
            hint="Train a new version with riskops, which writes cloudpickle.",
        )
    # cloudpickle writes the standard pickle format: pickle.load reads it, importing cloudpickle
    # only where the model holds something that only cloudpickle can rebuild.
    with file.open("rb") as stream:
        return pickle.load(stream)  # noqa: S301 - only after the digest check (see module doc)
