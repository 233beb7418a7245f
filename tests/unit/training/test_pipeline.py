from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest

from riskops.audit import list_events, verify
from riskops.context import Context
from riskops.errors import DataSchemaError, InputError, PermissionDeniedError, SpecError
from riskops.registry.digest import directory_digest
from riskops.registry.versions import ModelRef, get_version
from riskops.spec import load_spec
from riskops.training.pipeline import train
from tests.conftest import SPEC, reference_split, store_snapshot


def mlflow_client(ctx: Context) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(
        tracking_uri=ctx.settings.mlflow_tracking_uri, registry_uri=ctx.settings.mlflow_registry_uri
    )


def test_training_registers_a_candidate_with_its_lineage(ctx: Context) -> None:
    result = train(ctx, SPEC, actor="alice")
    assert result.ref == ModelRef("credit-scoring", 1)
    assert result.flavor == "lightgbm"
    assert result.metrics["validation_auc"] > 0.7
    assert result.data_fingerprint.startswith("sha256:2c0bae00")
    with ctx.store.transaction() as session:
        version = get_version(session, result.ref)
        assert version.state == "candidate"
        assert version.trained_by == "alice"
        assert version.digest == result.digest
        assert version.params["n_estimators"] == 200
        assert version.packages["lightgbm"]
        assert "name: credit-scoring" in version.spec_yaml
        assert version.code_commit is not None
        assert len(version.code_commit) == 40

    client = mlflow_client(ctx)
    mv = client.get_model_version("credit-scoring", "1")
    assert mv.tags["riskops.digest"] == result.digest
    assert mv.tags["riskops.data_fingerprint"] == result.data_fingerprint
    assert mv.tags["riskops.code_commit"] == result.code_commit
    assert mv.tags["riskops.trained_by"] == "alice"
    run = client.get_run(result.run_id)
    assert run.data.params["num_leaves"] == "8"
    split = reference_split()
    assert run.data.params["split.holdout_size"] == str(
        load_spec(SPEC).spec.data.split.holdout_size
    )
    assert {
        part: int(run.data.params[f"split.{part}_rows"]) for part in ("train", "validation", "test")
    } == split.sizes()
    assert "test_auc" not in run.data.metrics  # the test rows wait for validation
    assert run.data.tags["mlflow.source.git.commit"] == result.code_commit
    assert run.data.metrics["validation_auc"] == pytest.approx(result.metrics["validation_auc"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert artifacts == {"model", "riskops", "data"}
    downloaded = Path(client.download_artifacts(result.run_id, "model"))
    assert directory_digest(downloaded) == result.digest

    [event] = list_events(ctx.store)
    assert event.action == "version.registered"
    assert event.payload["digest"] == result.digest
    assert verify(ctx.store).ok


def test_param_overrides_are_recorded_and_versions_count_up(ctx: Context) -> None:
    train(ctx, SPEC, actor="alice")
    second = train(ctx, SPEC, actor="alice", params={"num_leaves": 4, "n_estimators": 50})
    assert second.ref.version == 2
    with ctx.store.transaction() as session:
        assert get_version(session, second.ref).params["num_leaves"] == 4
    assert mlflow_client(ctx).get_run(second.run_id).data.params["n_estimators"] == "50"


def test_the_scorecard_trainer_registers_a_sklearn_model(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    def scorecard(raw: dict[str, Any]) -> None:
        raw["trainer"] = {"entrypoint": "trainer.py:fit_scorecard", "params": {"C": 0.5}}

    result = train(ctx, spec_copy(scorecard), actor="alice")
    assert result.flavor == "sklearn"
    assert result.metrics["validation_auc"] > 0.7


def refused(ctx: Context, error: type[Exception], match: str, **kwargs: Any) -> None:
    before = store_snapshot(ctx)
    with pytest.raises(error, match=match):
        train(ctx, **kwargs)
    assert store_snapshot(ctx) == before
    assert mlflow_client(ctx).search_registered_models() == []


def test_only_a_developer_trains(ctx: Context) -> None:
    refused(ctx, PermissionDeniedError, "needs the role developer", spec_path=SPEC, actor="victor")
    refused(ctx, PermissionDeniedError, "not a known person", spec_path=SPEC, actor="zed")
    refused(ctx, InputError, "needs the name of who does it", spec_path=SPEC, actor=None)


def test_data_that_breaks_the_schema_trains_nothing(
    ctx: Context, spec_copy: Callable[..., Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    text = (
        SPEC.parents[2].joinpath("data/german_credit/german_credit.csv").read_text(encoding="utf-8")
    )
    bad.write_text(text.replace(",yes,good\n", ",yes,unknown\n", 1), encoding="utf-8")

    def point_at_bad(raw: dict[str, Any]) -> None:
        raw["data"]["source"] = str(bad)

    refused(
        ctx,
        DataSchemaError,
        "does not match the spec",
        spec_path=spec_copy(point_at_bad),
        actor="alice",
    )


def test_a_trainer_that_fails_or_returns_nonsense_registers_nothing(
    ctx: Context, spec_copy: Callable[..., Path]
) -> None:
    folder_spec = spec_copy(lambda raw: raw["trainer"].update(entrypoint="trainer.py:fit_lightgbm"))
    with (folder_spec.parent / "trainer.py").open("a", encoding="utf-8") as f:
        f.write(
            "\n\ndef explode(X, y, params):\n    raise ValueError('no convergence')\n"
            "\n\ndef nonsense(X, y, params):\n    return 42\n"
        )
    raw_text = folder_spec.read_text(encoding="utf-8")
    folder_spec.write_text(raw_text.replace("fit_lightgbm", "explode"), encoding="utf-8")
    refused(
        ctx, InputError, "raised ValueError: no convergence", spec_path=folder_spec, actor="alice"
    )
    folder_spec.write_text(raw_text.replace("fit_lightgbm", "nonsense"), encoding="utf-8")
    refused(ctx, InputError, "riskops cannot score", spec_path=folder_spec, actor="alice")
    folder_spec.write_text(raw_text.replace("fit_lightgbm", "missing_fn"), encoding="utf-8")
    refused(ctx, SpecError, "has no function 'missing_fn'", spec_path=folder_spec, actor="alice")


def test_a_store_that_fails_after_registering_leaves_an_abandoned_mlflow_version_only(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskops.training.pipeline as pipeline
    from riskops.errors import BackendError

    before = store_snapshot(ctx)
    real_record = pipeline.record

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("The riskops database did not answer")

    monkeypatch.setattr(pipeline, "record", store_down)
    with pytest.raises(BackendError, match="did not answer"):
        train(ctx, SPEC, actor="alice")
    assert store_snapshot(ctx) == before  # the version row rolled back with the audit event
    abandoned = mlflow_client(ctx).get_model_version("credit-scoring", "1")
    assert (
        abandoned.tags["riskops.abandoned"] == "BackendError: The riskops database did not answer"
    )

    monkeypatch.setattr(pipeline, "record", real_record)
    again = train(ctx, SPEC, actor="alice")
    assert again.ref == ModelRef("credit-scoring", 2)
    assert (
        "riskops.abandoned" not in mlflow_client(ctx).get_model_version("credit-scoring", "2").tags
    )
    with ctx.store.transaction() as session:
        assert get_version(session, again.ref).state == "candidate"
    [event] = list_events(ctx.store)
    assert event.object_id == "credit-scoring@2"
