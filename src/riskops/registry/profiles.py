"""The reference profile stored with a model version, and reading it back verified.

At registration the pipeline writes the profile as ``reference_profile.json`` into the version's
model folder, beside the ``MLmodel`` file, before the folder's digest is taken: the version's
digest (:mod:`riskops.registry.digest`) therefore covers the profile, and a profile that was
changed afterwards fails the same check as a changed model. The profile's own hash
(``ReferenceProfile.sha256()``) is recorded as the MLflow run and version tag
:data:`PROFILE_TAG` and in the ``version.registered`` audit event's payload
(``profile_sha256``).

Reading goes through :func:`riskops.registry.artifacts.verified_folder`: a local artifact is
read without MLflow.

Example::

    profile = load_profile(ctx.registry, "credit-scoring", 3, digest=version.digest,
                           source=version.artifact_uri)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from riskops.errors import IntegrityError, NotFoundError
from riskops.profiles.profile import FILE_NAME, ReferenceProfile
from riskops.registry.artifacts import verified_folder
from riskops.registry.mlflow_adapter import MlflowRegistry

PROFILE_TAG: Final = "riskops.profile_sha256"


def write_profile(profile: ReferenceProfile, model_dir: Path) -> str:
    """Write ``profile`` into the model folder ``model_dir``; returns its ``sha256:`` hash."""
    (model_dir / FILE_NAME).write_bytes(profile.to_json())
    return profile.sha256()


def read_profile(folder: Path, name: str, version: int) -> ReferenceProfile:
    """The profile in the model folder ``folder`` of ``name@version``: NotFoundError when the
    version has none, IntegrityError when it belongs to another version."""
    path = folder / FILE_NAME
    if not path.is_file():
        raise NotFoundError(
            f"{name}@{version} has no reference profile: it was registered before riskops "
            "fitted one at registration.",
            hint="Monitoring needs the frozen bins of the version; train and register it "
            "again (riskops train <spec> --as <developer>), then approve and deploy the new "
            "version.",
        )
    profile = ReferenceProfile.from_json(path.read_bytes())
    if (profile.model, profile.version) != (name, version):
        raise IntegrityError(
            f"The reference profile stored with {name}@{version} is the profile of "
            f"{profile.model}@{profile.version}.",
            hint="The artifact was registered under another version than it was fitted for; "
            "train and register the model again.",
        )
    return profile


def load_profile(
    registry: MlflowRegistry,
    name: str,
    version: int,
    *,
    digest: str,
    source: str | None = None,
    expected_sha256: str | None = None,
) -> ReferenceProfile:
    """The reference profile of ``name@version`` from its artifact, whose folder digest must be
    ``digest`` (the recorded one) and, when given, whose hash must be ``expected_sha256``."""
    with verified_folder(registry, name, version, digest=digest, source=source) as folder:
        profile = read_profile(folder, name, version)
    if expected_sha256 is not None and profile.sha256() != expected_sha256:
        raise IntegrityError(
            f"The reference profile of {name}@{version} hashes to {profile.sha256()}, but "
            f"{expected_sha256} was recorded at registration.",
            hint="The profile was written by another riskops release or altered; train and "
            "register the model again.",
        )
    return profile
