"""The reference profile stored with a version: fitted at registration, covered by the
version's digest, its hash recorded, and read back verified (locally without MLflow)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

from riskops.audit import list_events
from riskops.context import Context
from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import ConflictError, IntegrityError, NotFoundError
from riskops.profiles.profile import FILE_NAME, CategoricalBins, NumericBins, ReferenceProfile
from riskops.registry.artifacts import local_folder
from riskops.registry.digest import directory_digest
from riskops.registry.profiles import PROFILE_TAG, load_profile, read_profile, write_profile
from riskops.registry.versions import get_version, latest_version
from riskops.spec import load_spec
from riskops.training.pipeline import train
from tests.conftest import SPEC


class NoRegistry:
    """A registry that must not be asked: a local artifact is read without MLflow."""

    def downloaded_version(self, name: str, version: int) -> Any:
        raise AssertionError("MLflow was asked for a local artifact")


def test_training_stores_a_verified_profile_of_the_training_split(
    ctx: Context, tmp_path: Path
) -> None:
    result = train(ctx, SPEC, actor="alice")
    with ctx.store.transaction() as session:
        version = get_version(session, result.ref)
        digest, source = version.digest, version.artifact_uri
    profile = load_profile(NoRegistry(), "credit-scoring", 1, digest=digest, source=source)  # type: ignore[arg-type]

    loaded = load_spec(SPEC)
    prepared = prepare(load_snapshot(loaded.resolve(loaded.spec.data.source)), loaded.spec)
    assert (profile.model, profile.version, profile.n) == (
        "credit-scoring",
        1,
        len(prepared.split.train),
    )
    assert [b.name for b in profile.features] == list(loaded.spec.feature_names)
    for feature, bins in zip(loaded.spec.features, profile.features, strict=True):
        expected = NumericBins if feature.type == "numeric" else CategoricalBins
        assert isinstance(bins, expected)
    # The counts are the training split's: e.g. the first categorical feature.
    first = next(i for i, f in enumerate(loaded.spec.features) if f.type == "categorical")
    column = prepared.train_features.iloc[:, first]
    counted = [int(column.isna().sum()), *column.value_counts(sort=False).tolist(), 0]
    assert profile.reference[first, : len(counted)].tolist() == counted
    # The score row holds the model's training scores, all in range.
    assert profile.reference[-1, 0] == 0
    assert profile.reference[-1].sum() == profile.n

    # The hash is recorded on the MLflow run and version and in the audit event.
    client = mlflow.MlflowClient(
        tracking_uri=ctx.settings.mlflow_tracking_uri, registry_uri=ctx.settings.mlflow_registry_uri
    )
    assert client.get_model_version("credit-scoring", "1").tags[PROFILE_TAG] == profile.sha256()
    assert client.get_run(result.run_id).data.tags[PROFILE_TAG] == profile.sha256()
    [event] = list_events(ctx.store)
    assert event.payload["profile_sha256"] == profile.sha256()
    again = load_profile(
        NoRegistry(),  # type: ignore[arg-type]
        "credit-scoring",
        1,
        digest=digest,
        source=source,
        expected_sha256=profile.sha256(),
    )
    assert again == profile

    # The digest covers the profile: a changed profile is refused like a changed model.
    folder = local_folder(source)
    assert folder is not None
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    assert directory_digest(copy) == digest
    document = (copy / FILE_NAME).read_bytes()
    (copy / FILE_NAME).write_bytes(document.replace(b'"version":1', b'"version":2'))
    with pytest.raises(IntegrityError, match="has digest sha256:"):
        load_profile(NoRegistry(), "credit-scoring", 1, digest=digest, source=copy.as_uri())  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match=r"hashes to sha256:.* but sha256:0+ was recorded"):
        load_profile(
            NoRegistry(),  # type: ignore[arg-type]
            "credit-scoring",
            1,
            digest=digest,
            source=source,
            expected_sha256="sha256:" + "0" * 64,
        )


def small_profile(model: str = "m", version: int = 1) -> ReferenceProfile:
    numeric = NumericBins("x", (1.0,), (0.0, 1.0, 2.0))
    score = NumericBins("score", (), (0.0, 1.0))
    reference = np.array([[0, 0, 2, 1, 0], [0, 0, 3, 0, 0]], dtype=np.int64)
    moments = np.array([[3, 0.7, 0.1, 0.1, 1.5], [3, 0.3, 0.01, 0.2, 0.4]], dtype=np.float64)
    return ReferenceProfile(model, version, (numeric,), score, reference, 3, moments)


def test_a_version_without_a_profile_says_to_register_again(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="m@1 has no reference profile") as caught:
        read_profile(tmp_path, "m", 1)
    assert caught.value.hint is not None
    assert "train and register it again" in caught.value.hint


def test_a_profile_of_another_version_is_refused(tmp_path: Path) -> None:
    sha = write_profile(small_profile(version=2), tmp_path)
    assert sha == small_profile(version=2).sha256()
    with pytest.raises(IntegrityError, match="stored with m@1 is the profile of m@2"):
        read_profile(tmp_path, "m", 1)
    assert read_profile(tmp_path, "m", 2).sha256() == sha


def test_a_version_registered_meanwhile_is_a_conflict_not_a_mislabelled_profile(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = train(ctx, SPEC, actor="alice")
    with ctx.store.transaction() as session:
        source = get_version(session, first.ref).artifact_uri
    registry = ctx.registry
    predict = registry.next_version

    def another_registration_in_between(name: str) -> int:
        number = predict(name)
        # Someone else registers a version right after the number was read.
        registry.register(name, run_id=first.run_id, source=source, tags={})
        return number

    monkeypatch.setattr(registry, "next_version", another_registration_in_between)
    with pytest.raises(
        ConflictError,
        match="numbered the new version credit-scoring@3, but its reference "
        "profile was fitted for version 2",
    ):
        train(ctx, SPEC, actor="alice")
    with ctx.store.transaction() as session:
        assert latest_version(session, "credit-scoring") == 1
