"""A verified load: the artifact is fetched (locally without MLflow), hashed, then loaded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from riskops.errors import BackendError, IntegrityError
from riskops.registry.artifacts import load_verified_model, local_folder
from riskops.registry.digest import directory_digest
from riskops.registry.model_files import save_model


class NoRegistry:
    """A registry that must not be asked: a local artifact is read without MLflow."""

    def downloaded_version(self, name: str, version: int) -> Any:
        raise AssertionError("MLflow was asked for a local artifact")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    x = rng.random((100, 2))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(x, (x[:, 0] > 0.5).astype(int)), 3
    )
    folder = tmp_path / "store" / "model"
    save_model(booster, folder, feature_names=["a", "b"], example=x[:2])
    return folder


@pytest.mark.parametrize(
    ("source", "local"),
    [
        ("file:///srv/ml/model", Path("/srv/ml/model")),
        ("file://localhost/srv/ml/model", Path("/srv/ml/model")),
        ("file:///srv/ml/with%20space", Path("/srv/ml/with space")),
        ("/srv/ml/model", Path("/srv/ml/model")),
        ("s3://bucket/ml/model", None),
        ("mlflow-artifacts:/1/abc/artifacts/model", None),
        ("runs:/abc/model", None),
        ("relative/model", None),
        (None, None),
    ],
)
def test_which_recorded_locations_are_local(source: str | None, local: Path | None) -> None:
    assert local_folder(source) == local


def test_a_local_artifact_is_loaded_without_asking_mlflow(artifact: Path) -> None:
    model = load_verified_model(
        NoRegistry(),  # type: ignore[arg-type]
        "m",
        1,
        digest=directory_digest(artifact),
        flavor="lightgbm",
        source=artifact.as_uri(),
    )
    assert isinstance(model, lgb.Booster)


def test_a_changed_local_artifact_is_refused(artifact: Path) -> None:
    approved = directory_digest(artifact)
    (artifact / "model.lgb").write_text(
        (artifact / "model.lgb").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )
    with pytest.raises(IntegrityError, match=r"^The artifact of m@1 has digest sha256:"):
        load_verified_model(
            NoRegistry(),  # type: ignore[arg-type]
            "m",
            1,
            digest=approved,
            flavor="lightgbm",
            source=artifact.as_uri(),
        )


def test_a_missing_local_artifact_is_a_backend_error(artifact: Path) -> None:
    approved = directory_digest(artifact)
    shutil.rmtree(artifact)
    with pytest.raises(BackendError, match=r"^Could not read the artifact of m@1 at file://"):
        load_verified_model(
            NoRegistry(),  # type: ignore[arg-type]
            "m",
            1,
            digest=approved,
            flavor="lightgbm",
            source=artifact.as_uri(),
        )
