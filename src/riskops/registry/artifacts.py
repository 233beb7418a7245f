"""Fetching a registered model from MLflow and loading it only if its digest is the approved one."""

from __future__ import annotations

from typing import Any

from riskops.errors import IntegrityError
from riskops.registry.digest import directory_digest
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.registry.model_files import load_native


def load_verified_model(
    registry: MlflowRegistry, name: str, version: int, *, digest: str, flavor: str
) -> Any:
    """The native model of ``name@version``; IntegrityError if the stored artifact's digest
    differs from ``digest`` (the one recorded at registration and approved)."""
    with registry.downloaded_version(name, version) as folder:
        actual = directory_digest(folder)
        if actual != digest:
            raise IntegrityError(
                f"The artifact of {name}@{version} has digest {actual}, but {digest} was "
                "recorded and approved; refusing to load it.",
                hint="The artifact store was altered. Restore the original artifact or train "
                "and approve a new version; report this as a security incident.",
            )
        return load_native(folder, flavor)
