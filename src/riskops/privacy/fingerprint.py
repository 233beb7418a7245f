"""One workspace secret per store: the store keeps the secret's fingerprint, and a process whose
secret has another fingerprint refuses to work on it.

Two processes with different secrets on one store would give one customer two pseudonyms, and
subject access or erasure would silently miss half of their records. So the ``workspace`` table
holds one row ``secret_fingerprint`` — ``HKDF(secret, info="riskops/v1/workspace-fingerprint")``
in hex (:attr:`riskops.privacy.secrets.WorkspaceSecrets.fingerprint`), which does not reveal the
secret — recorded by the first process that uses the store. Afterwards:

- a process whose secret has that fingerprint goes on;
- a process whose secret has another one is refused (ConfigError naming the fix: set
  ``RISKOPS_SECRET_KEY`` to the workspace's secret);
- a process that has no secret yet (no ``RISKOPS_SECRET_KEY``, no secret file) is refused
  before it generates one, for the same reason.

Example::

    secrets = bind_secrets(ctx.settings, ctx.store)   # checked against (or recorded in) the store
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as RowConflict

from riskops.config import Settings
from riskops.errors import ConfigError
from riskops.privacy.secrets import WorkspaceSecrets, load_secrets, secret_file, would_generate
from riskops.store import Store
from riskops.store.tables import WorkspaceRecord

FINGERPRINT = "secret_fingerprint"

_FIX = (
    "Set RISKOPS_SECRET_KEY to the workspace's secret (the one every other process on this "
    "store uses, 64 hex digits), or copy the workspace's secret.key to {path}."
)


def recorded_fingerprint(store: Store) -> str | None:
    """The fingerprint of the workspace secret recorded in ``store``, or None before any."""
    with store.reading() as session:
        return session.scalar(
            select(WorkspaceRecord.value).where(WorkspaceRecord.name == FINGERPRINT)
        )


def check_fingerprint(
    store: Store, secrets: WorkspaceSecrets, *, where: str = "", path: str = "its secret file"
) -> None:
    """Record ``secrets``' fingerprint if the store has none; refuse it if the store has
    another one. ``where`` says where the secret came from and ``path`` where the process
    reads its secret file, for the message."""
    recorded = recorded_fingerprint(store)
    if recorded is None:
        try:
            with store.transaction() as session:
                session.add(
                    WorkspaceRecord(
                        name=FINGERPRINT, value=secrets.fingerprint, recorded_at=datetime.now(UTC)
                    )
                )
            return
        except RowConflict:  # another process recorded one first: compare with it
            recorded = recorded_fingerprint(store)
    if recorded != secrets.fingerprint:
        raise ConfigError(
            f"The workspace secret{where} is not the secret of this store (its fingerprint "
            f"differs from the one recorded in the store). Pseudonyms made with it would not "
            "match this workspace's, and subject access or erasure would miss records.",
            hint=_FIX.format(path=path),
        )


def bind_secrets(settings: Settings, store: Store) -> WorkspaceSecrets:
    """The workspace's keys, checked against the store's fingerprint (recorded on first use).

    Raises ConfigError when the secret differs from the store's, or when a new secret would be
    generated for a store that already has one; BackendError when the store does not answer.
    """
    path = secret_file(settings)
    if would_generate(settings) and recorded_fingerprint(store) is not None:
        raise ConfigError(
            "This store already belongs to a workspace with a secret, and this process has "
            f"none (RISKOPS_SECRET_KEY is not set and {path} does not exist); a new secret "
            "would give every customer a second pseudonym.",
            hint=_FIX.format(path=path),
        )
    secrets = load_secrets(settings)
    where = " in RISKOPS_SECRET_KEY" if settings.secret_key else f" in {path}"
    check_fingerprint(store, secrets, where=where, path=str(path))
    return secrets
