"""Fetching a registered model's artifact and loading it only if its digest is the approved one.

An artifact recorded at a local path (``file://…``, the embedded default) is copied straight
from there; any other store (S3, an MLflow artifact server) is downloaded through MLflow's
client. Either way the copy is hashed and loaded from one private temporary folder, so what
is loaded is exactly what was checked. Loading reads the native model file itself
(:func:`riskops.registry.model_files.load_native`), so a scoring process on a local artifact
store never imports MLflow.

Example::

    model = load_verified_model(ctx.registry, "credit-scoring", 1, digest=approved,
                                flavor="lightgbm", source=version.artifact_uri)
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from riskops.errors import BackendError, IntegrityError
from riskops.registry.digest import directory_digest
from riskops.registry.mlflow_adapter import MlflowRegistry
from riskops.registry.model_files import load_native


def load_verified_model(
    registry: MlflowRegistry,
    name: str,
    version: int,
    *,
    digest: str,
    flavor: str,
    source: str | None = None,
) -> Any:
    """The native model of ``name@version``; IntegrityError if the stored artifact's digest
    differs from ``digest`` (the one recorded at registration and approved). ``source`` is the
    artifact's recorded location; a local one is read without MLflow."""
    with _fetched(registry, name, version, source) as folder:
        actual = directory_digest(folder)
        if actual != digest:
            raise IntegrityError(
                f"The artifact of {name}@{version} has digest {actual}, but {digest} was "
                "recorded and approved; refusing to load it.",
                hint="The artifact store was altered. Restore the original artifact or train "
                "and approve a new version; report this as a security incident.",
            )
        return load_native(folder, flavor)


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
