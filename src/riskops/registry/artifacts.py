"""Fetching a registered model from MLflow and loading it only if its digest is the approved one.

With a ``cache`` folder, a verified artifact is also kept there, under its digest
(``<cache>/sha256-<hex>/``), so that a server can load it again without MLflow (a restart while
the store or the registry is down). A kept copy is checked against the approved digest every
time it is loaded; one that differs is removed and never loaded.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from riskops.errors import IntegrityError, NotFoundError
from riskops.registry.digest import directory_digest
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.registry.model_files import load_native

log = logging.getLogger(__name__)


def load_verified_model(
    registry: MlflowRegistry,
    name: str,
    version: int,
    *,
    digest: str,
    flavor: str,
    cache: Path | None = None,
) -> Any:
    """The native model of ``name@version``; IntegrityError if the stored artifact's digest
    differs from ``digest`` (the one recorded at registration and approved). With ``cache``,
    a verified copy kept there is loaded first, and a freshly verified download is kept."""
    if cache is not None:
        try:
            return load_cached_model(cache, name, version, digest=digest, flavor=flavor)
        except (NotFoundError, IntegrityError):
            pass  # fetch it from the registry again (a mismatching copy is already removed)
    with registry.downloaded_version(name, version) as folder:
        actual = directory_digest(folder)
        if actual != digest:
            raise IntegrityError(
                f"The artifact of {name}@{version} has digest {actual}, but {digest} was "
                "recorded and approved; refusing to load it.",
                hint="The artifact store was altered. Restore the original artifact or train "
                "and approve a new version; report this as a security incident.",
            )
        model = load_native(folder, flavor)
        if cache is not None:
            _keep(folder, cache / _cache_name(digest))
        return model


def load_cached_model(cache: Path, name: str, version: int, *, digest: str, flavor: str) -> Any:
    """The native model of ``name@version`` from the local ``cache`` alone, its digest checked
    again; NotFoundError if no copy is kept, IntegrityError (and the copy removed) if it
    differs from ``digest``."""
    kept = cache / _cache_name(digest)
    if not kept.is_dir():
        raise NotFoundError(
            f"No local copy of {name}@{version} ({digest}) in {cache}.",
            hint="A server keeps a copy of each artifact it verified; this one was never "
            "loaded here. Start the server once while the store and MLflow answer.",
        )
    actual = directory_digest(kept)
    if actual != digest:
        log.critical(
            "REFUSED the local copy of %s@%s: digest %s, approved %s; removing it",
            name,
            version,
            actual,
            digest,
        )
        shutil.rmtree(kept, ignore_errors=True)
        raise IntegrityError(
            f"The local copy of {name}@{version} has digest {actual}, but {digest} was "
            "approved; it was removed, not loaded.",
            hint="Something changed the server's model cache; it is fetched again from MLflow "
            "when that answers. Report this as a security incident.",
        )
    return load_native(kept, flavor)


def _cache_name(digest: str) -> str:
    return digest.replace(":", "-")


def _keep(folder: Path, destination: Path) -> None:
    """Copy ``folder`` to ``destination`` atomically (a copy in the same parent, renamed)."""
    if destination.is_dir():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=destination.parent))
    try:
        shutil.copytree(folder, staging, dirs_exist_ok=True)
        os.replace(staging, destination)
    except OSError as exc:  # a full disk must not stop serving: the model is loaded already
        log.warning("Could not keep a local copy of %s: %s", destination.name, exc)
        shutil.rmtree(staging, ignore_errors=True)
