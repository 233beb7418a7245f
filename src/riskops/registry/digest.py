"""The digest of a model artifact (a directory of files), which serving checks before loading.

    digest = "sha256:" + sha256( "".join(f"{sha256(file)}  {relative/posix/path}\\n"
                                         for file in sorted(files)) )

It is the SHA-256 of a ``sha256sum``-style manifest of every file, sorted by path, so anyone can
recompute it with coreutils: ``(cd model && find . -type f ! -name registered_model_meta |
sed 's|^./||' | LC_ALL=C sort | xargs sha256sum) | sha256sum``. ``registered_model_meta`` is
left out because MLflow writes it into the folder on download.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Written by MLflow into a downloaded model folder; not part of what was logged.
IGNORED_FILES = frozenset({"registered_model_meta"})


def directory_digest(root: Path) -> str:
    """``sha256:<hex>`` of the manifest of every file under ``root``."""
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative in IGNORED_FILES:
            continue
        entries.append((relative, _file_sha256(path)))
    entries.sort(key=lambda e: e[0].encode("utf-8"))
    manifest = "".join(f"{digest}  {relative}\n" for relative, digest in entries)
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
