"""The German credit data and the reference trainer's two models, trained once per test module
(well under a second each)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from riskops.context import Context, open_context
from riskops.datasets.prepared import Prepared, prepare
from riskops.datasets.snapshot import Snapshot, load_snapshot
from riskops.governance.approvals import approve
from riskops.governance.deployments import deploy
from riskops.spec import ModelSpec, load_spec
from riskops.training.pipeline import train
from riskops.validation.run import validate
from riskops.workspace import init_workspace
from tests.conftest import DATA, OPINION, PEOPLE, SPEC, approve_and_deploy


@dataclass(frozen=True)
class German:
    spec: ModelSpec
    snapshot: Snapshot
    prepared: Prepared
    requests: list[dict[str, object]]  # each data row as a JSON body carries it

    @property
    def matrix(self) -> np.ndarray:
        return self.prepared.matrix


def trainer(name: str) -> Callable[..., Any]:
    """A function of models/credit_scoring/trainer.py, the data scientist's code."""
    module_spec = importlib.util.spec_from_file_location(
        "credit_scoring_trainer", SPEC.parent / "trainer.py"
    )
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    fn: Callable[..., Any] = getattr(module, name)
    return fn


def as_requests(frame: Any, spec: ModelSpec) -> list[dict[str, object]]:
    """Rows of the CSV as request bodies: numbers as JSON numbers, categories as strings."""
    return [
        {
            f.name: int(record[f.name]) if f.type == "numeric" else str(record[f.name])
            for f in spec.features
        }
        for record in frame.to_dict(orient="records")
    ]


@pytest.fixture(scope="module")
def german() -> German:
    spec = load_spec(SPEC).spec
    snapshot = load_snapshot(DATA)
    prepared = prepare(snapshot, spec)
    return German(spec, snapshot, prepared, as_requests(snapshot.frame, spec))


@pytest.fixture(scope="module")
def booster(german: German) -> lgb.Booster:
    fit = trainer("fit_lightgbm")
    model: lgb.Booster = fit(
        german.prepared.train_features, german.prepared.y_train, german.spec.trainer.params
    )
    return model


@pytest.fixture(scope="module")
def scorecard(german: German) -> Pipeline:
    fit = trainer("fit_scorecard")
    model: Pipeline = fit(german.prepared.train_features, german.prepared.y_train, {"C": 0.5})
    return model


@pytest.fixture
def canary_workspace(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Context]:
    """credit-scoring@1 the champion, @2 its canary answering 10% of subjects."""
    settings = init_workspace(tmp_path / "ws", people={**PEOPLE, "riskops-monitor": ["operator"]})
    ctx = open_context(settings)
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    second = train(ctx, SPEC, actor="alice").ref
    assert validate(ctx, second, actor="victor").passed
    approve(ctx, second, actor="victor", opinion=OPINION)
    approve(ctx, second, actor="rita")
    deploy(ctx, second, environment="production", actor="oscar", mode="canary", share=0.1)
    yield ctx
    ctx.close()
