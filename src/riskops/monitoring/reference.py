"""The reference profile of a registered version, verified, for monitoring.

The profile is stored in the version's model folder (:mod:`riskops.registry.profiles`): it is
read through the digest check of the folder, and its hash must equal the one recorded at
registration (the run's ``riskops.profile_sha256`` tag). A version registered before profiles
were fitted has none, and the error says to train and register it again.

Example::

    profile = registered_profile(ctx, parse_ref("credit-scoring@3"))
"""

from __future__ import annotations

from riskops.context import Context
from riskops.profiles.profile import ReferenceProfile
from riskops.registry.profiles import PROFILE_TAG, load_profile
from riskops.registry.versions import ModelRef, get_version


def registered_profile(ctx: Context, ref: ModelRef) -> ReferenceProfile:
    """The verified reference profile of ``ref`` (NotFoundError for an unknown version or one
    without a profile; IntegrityError for an altered artifact or profile)."""
    with ctx.store.transaction() as session:
        version = get_version(session, ref)
        digest, source, run_id = version.digest, version.artifact_uri, version.mlflow_run_id
    expected = ctx.registry.run_tag(run_id, PROFILE_TAG)
    return load_profile(
        ctx.registry,
        ref.name,
        ref.version,
        digest=digest,
        source=source,
        expected_sha256=expected,
    )
