from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.errors import InputError, IntegrityError, PermissionDeniedError
from riskops.registry.versions import ModelRef, get_version
from riskops.training.pipeline import train
from riskops.training.reproduce import reproduce
from tests.conftest import reference_split, store_snapshot


def registered_versions(ctx: Context) -> list[tuple[str, str]]:
    client = mlflow.MlflowClient(
        tracking_uri=ctx.settings.mlflow_tracking_uri, registry_uri=ctx.settings.mlflow_registry_uri
    )
    return sorted((v.name, v.version) for v in client.search_model_versions())


def run_folder(ctx: Context, ref: ModelRef) -> Path:
    """The local folder of the version's MLflow run artifacts (model/, data/, riskops/)."""
    with ctx.store.reading() as session:
        return Path(urlparse(get_version(session, ref).artifact_uri).path).parent


@pytest.fixture
def trained(ctx: Context, spec_copy: Callable[..., Path]) -> tuple[ModelRef, Path]:
    """A version trained from a spec copy outside git, so no repository change can creep in."""
    spec = spec_copy()
    return train(ctx, spec, actor="alice").ref, spec


def test_retraining_from_the_records_matches_bit_for_bit(
    ctx: Context, trained: tuple[ModelRef, Path]
) -> None:
    ref, spec = trained
    with ctx.store.reading() as session:
        assert get_version(session, ref).spec_path == str(spec)
    versions = registered_versions(ctx)
    before = store_snapshot(ctx)
    result = reproduce(ctx, ref, actor="victor")
    assert result.verdict == "bit-for-bit"
    assert result.matches
    assert result.max_abs_difference == 0.0
    assert result.rows == len(reference_split().validation)
    assert result.differences == ()
    assert result.data_fingerprint.startswith("sha256:2c0bae00")
    assert result.trainer_file == str(spec.parent / "trainer.py")

    assert registered_versions(ctx) == versions
    after = store_snapshot(ctx)
    assert {t: rows for t, rows in after.items() if t not in ("audit_events", "audit_head")} == {
        t: rows for t, rows in before.items() if t not in ("audit_events", "audit_head")
    }
    [event] = list_events(ctx.store, action="version.reproduced")
    assert (event.actor, event.role, event.object_id) == ("victor", "validator", str(ref))
    assert event.payload["verdict"] == "bit-for-bit"
    assert event.payload["max_abs_difference"] == 0.0


def test_a_tampered_data_snapshot_is_refused(ctx: Context, trained: tuple[ModelRef, Path]) -> None:
    ref, _ = trained
    data_file = run_folder(ctx, ref) / "data" / "german_credit.csv"
    data_file.write_text(data_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    before = store_snapshot(ctx)
    with pytest.raises(IntegrityError, match="not the recorded sha256:2c0bae00"):
        reproduce(ctx, ref, actor="victor")
    assert store_snapshot(ctx) == before


def test_a_changed_trainer_is_reported_as_the_likely_cause_of_a_mismatch(
    ctx: Context, trained: tuple[ModelRef, Path]
) -> None:
    ref, spec = trained
    trainer = spec.parent / "trainer.py"
    source = trainer.read_text(encoding="utf-8")
    fitted = "lgb.LGBMClassifier(verbose=-1, n_jobs=1, **params)"
    assert fitted in source
    trainer.write_text(
        source.replace(
            fitted, 'lgb.LGBMClassifier(verbose=-1, n_jobs=1, **{**params, "num_leaves": 4})'
        ),
        encoding="utf-8",
    )
    result = reproduce(ctx, ref)
    assert result.verdict == "mismatch"
    assert not result.matches
    assert result.max_abs_difference > 1e-3
    assert result.reason.startswith(f"likely cause: the trainer file {trainer} changed")
    assert result.differences == (result.reason.removeprefix("likely cause: "),)
    [event] = list_events(ctx.store, action="version.reproduced")
    assert event.payload["verdict"] == "mismatch"
    assert event.role == "os_user"


def test_a_moved_spec_is_found_with_an_explicit_path(
    ctx: Context, trained: tuple[ModelRef, Path], tmp_path: Path
) -> None:
    ref, spec = trained
    moved = tmp_path / "moved"
    shutil.move(spec.parent, moved)
    before = store_snapshot(ctx)
    with pytest.raises(InputError, match=f"its spec was at {spec}, which no longer exists") as info:
        reproduce(ctx, ref, actor="victor")
    assert info.value.hint is not None
    assert "--spec PATH/model.yaml" in info.value.hint
    assert store_snapshot(ctx) == before

    result = reproduce(ctx, ref, actor="victor", spec_path=moved)
    assert result.verdict == "bit-for-bit"
    assert result.differences == (
        f"the spec was at {spec} at training; used {moved / 'model.yaml'}",
    )


def test_only_a_known_person_is_named(ctx: Context, trained: tuple[ModelRef, Path]) -> None:
    ref, _ = trained
    before = store_snapshot(ctx)
    with pytest.raises(PermissionDeniedError, match="'mallory' is not a known person"):
        reproduce(ctx, ref, actor="mallory")
    assert store_snapshot(ctx) == before
