"""Native models read from MLflow model folders without MLflow: the MLmodel file names the
file, the flavor's own library opens it."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from riskops.errors import InputError
from riskops.registry.flavors import predict_proba
from riskops.registry.model_files import load_native, save_model

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.random((200, 3))
    return x, (x[:, 0] + 0.2 * rng.random(200) > 0.6).astype(int)


@pytest.fixture(scope="module")
def booster(data: tuple[np.ndarray, np.ndarray]) -> lgb.Booster:
    x, y = data
    return lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(x, y), 5)


@pytest.fixture(scope="module")
def folders(
    tmp_path_factory: pytest.TempPathFactory,
    data: tuple[np.ndarray, np.ndarray],
    booster: lgb.Booster,
) -> dict[str, Path]:
    x, y = data
    root = tmp_path_factory.mktemp("models")
    save_model(booster, root / "lightgbm", feature_names=NAMES, example=x[:2])
    estimator = LogisticRegression().fit(x, y)
    save_model(estimator, root / "sklearn", feature_names=NAMES, example=x[:2])
    return {"lightgbm": root / "lightgbm", "sklearn": root / "sklearn"}


def copy_of(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / folder.name))


def edit_mlmodel(folder: Path, flavor: str, **changes: object) -> None:
    mlmodel = folder / "MLmodel"
    raw = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    raw["flavors"][flavor].update(changes)
    mlmodel.write_text(yaml.safe_dump(raw), encoding="utf-8")


@pytest.mark.parametrize("flavor", ["lightgbm", "sklearn"])
def test_the_native_model_loads_without_mlflow_and_scores_as_saved(
    flavor: str,
    folders: dict[str, Path],
    data: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x, _ = data
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # any import of MLflow now fails
    model = load_native(folders[flavor], flavor)
    assert not any(m.startswith("mlflow.") for m in sys.modules)
    monkeypatch.undo()  # MLflow back, to compare with its own loader
    if flavor == "lightgbm":
        assert isinstance(model, lgb.Booster)
    import mlflow

    reference = (
        mlflow.lightgbm.load_model(str(folders[flavor]))
        if flavor == "lightgbm"
        else mlflow.sklearn.load_model(str(folders[flavor]))
    )
    np.testing.assert_array_equal(predict_proba(model, x), predict_proba(reference, x))


def test_an_unknown_flavor_is_refused(folders: dict[str, Path]) -> None:
    with pytest.raises(
        InputError, match=r"Unknown model flavor 'onnx'\. Valid flavors are: lightgbm, sklearn\."
    ):
        load_native(folders["lightgbm"], "onnx")


def test_a_folder_without_the_recorded_flavor_is_refused(
    folders: dict[str, Path],
) -> None:
    with pytest.raises(
        InputError, match=r"has no 'sklearn' flavor \(flavors: lightgbm, python_function\)"
    ):
        load_native(folders["lightgbm"], "sklearn")


def test_a_folder_without_mlmodel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"has no readable MLmodel file"):
        load_native(tmp_path, "lightgbm")


def test_a_model_file_outside_the_folder_is_refused(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = copy_of(folders["lightgbm"], tmp_path)
    outside = tmp_path / "elsewhere.lgb"
    outside.write_bytes((folder / "model.lgb").read_bytes())
    edit_mlmodel(folder, "lightgbm", data="../elsewhere.lgb")
    with pytest.raises(
        InputError,
        match=r"names '\.\./elsewhere\.lgb' as the model file, which is not a file inside",
    ):
        load_native(folder, "lightgbm")


def test_a_lightgbm_scikit_learn_wrapper_is_refused(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = copy_of(folders["lightgbm"], tmp_path)
    edit_mlmodel(folder, "lightgbm", model_class="lightgbm.sklearn.LGBMClassifier")
    with pytest.raises(
        InputError,
        match=r"is a lightgbm\.sklearn\.LGBMClassifier; riskops serves the native Booster",
    ):
        load_native(folder, "lightgbm")


def test_an_unsupported_serialisation_is_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = copy_of(folders["sklearn"], tmp_path)
    edit_mlmodel(folder, "sklearn", serialization_format="skops")
    with pytest.raises(
        InputError, match=r"serialised as 'skops'; riskops reads 'cloudpickle' and 'pickle'"
    ):
        load_native(folder, "sklearn")


def test_a_plain_pickle_is_read(
    folders: dict[str, Path], tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    folder = copy_of(folders["sklearn"], tmp_path)
    edit_mlmodel(folder, "sklearn", serialization_format="pickle")
    x, _ = data
    assert predict_proba(load_native(folder, "sklearn"), x).shape == (200,)
