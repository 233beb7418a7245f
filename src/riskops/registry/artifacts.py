"""Fetching a registered model's artifact and loading it only if its digest is the approved one.

An artifact recorded at a local path (``file://…``, the embedded default) is copied straight
from there; any other store (S3, an MLflow artifact server) is downloaded through MLflow's
client. Either way the copy is hashed and loaded from one private temporary folder, so what
is loaded is exactly what was checked. Loading reads the native model file itself
(:func:`riskops.registry.model_files.load_native`), so a scoring process on a local artifact
store never imports MLflow.

With a ``cache`` folder, a verified artifact is also kept there, under its digest
(``<cache>/sha256-<hex>/``), so that a server can load it again without MLflow (a restart while
the store or the registry is down). A kept copy is checked against the approved digest every
time it is loaded; one that differs is removed and never loaded.

Example::

    model = load_verified_model(ctx.registry, "credit-scoring", 1, digest=approved,
                                flavor="lightgbm", source=version.artifact_uri)
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from riskops.errors import BackendError, IntegrityError, NotFoundError
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
    source: str | None = None,
) -> Any:
    """The native model of ``name@version``; IntegrityError if the stored artifact's digest
    differs from ``digest`` (the one recorded at registration and approved). ``source`` is the
    artifact's recorded location; a local one is read without MLflow. With ``cache``, a
    verified copy kept there is loaded first, and a freshly verified copy is kept."""
    if cache is not None:
        try:
            return load_cached_model(cache, name, version, digest=digest, flavor=flavor)
        except (NotFoundError, IntegrityError):
            pass  # fetch it from the registry again (a mismatching copy is already removed)
    with verified_folder(registry, name, version, digest=digest, source=source) as folder:
        model = load_native(folder, flavor)
        if cache is not None:
            _keep(folder, cache / _cache_name(digest))
        return model


@contextmanager
def verified_folder(
    registry: MlflowRegistry, name: str, version: int, *, digest: str, source: str | None = None
) -> Iterator[Path]:
    """A private copy of the artifact folder of ``name@version`` whose digest is ``digest``
    (the recorded one), removed on exit; IntegrityError when it differs. ``source`` as for
    :func:`load_verified_model`."""
    with _fetched(registry, name, version, source) as folder:
        actual = directory_digest(folder)
        if actual != digest:
            raise IntegrityError(
                f"The artifact of {name}@{version} has digest {actual}, but {digest} was "
                "recorded and approved; refusing to load it.",
                hint="The artifact store was altered. Restore the original artifact or train "
                "and approve a new version; report this as a security incident.",
            )
        yield folder


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


def local_folder(source: str | None) -> Path | None:
    """The local folder a recorded artifact location names, or None when it is remote (or not
    given): ``file:///a/b`` and ``/a/b`` are local; ``s3://…``, ``mlflow-artifacts:…`` are not."""
    if not source:
        return None
    parsed = urlparse(source)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" and Path(source).is_absolute():
        return Path(source)
    return None


@contextmanager
def _fetched(
    registry: MlflowRegistry, name: str, version: int, source: str | None
) -> Iterator[Path]:
    local = local_folder(source)
    if local is None:
        with registry.downloaded_version(name, version) as folder:
            yield folder
        return
    with tempfile.TemporaryDirectory(prefix="riskops-model-") as tmp:
        try:
            copy = Path(shutil.copytree(local, Path(tmp) / "model"))
        except OSError as exc:
            raise BackendError(
                f"Could not read the artifact of {name}@{version} at {source}: {exc}",
                hint="Check that the artifact store is mounted and readable: riskops doctor",
            ) from exc
        yield copy
