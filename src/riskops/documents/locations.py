"""Locations as a document may show them: never a local absolute path.

A document leaves the machine it was rendered on (mailed to a validator, filed with a
regulator), so a path such as ``/home/alice/riskops/.riskops/mlartifacts/…`` says nothing useful
to its reader and tells them about the renderer's machine. A local path or ``file:`` URI keeps
only its last parts (the data file's name, the artifact's run folder); a remote URI
(``s3://bucket/key``, ``https://…``) is a shared location and stays as it is.

Example::

    public_location("file:///home/a/.riskops/mlartifacts/credit-scoring/ab12/artifacts/model")
    # '…/credit-scoring/ab12/artifacts/model'
    public_location("/home/a/data/german_credit.csv", keep=1)  # 'german_credit.csv'
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_local(value: str) -> bool:
    """True for an absolute local path, ``~/…`` or a ``file:`` URI."""
    text = value.strip()
    return text.startswith(("/", "~", "file:", "\\\\")) or _WINDOWS_DRIVE.match(text) is not None


def public_location(value: object, *, keep: int = 4) -> str:
    """``value`` fit for a document: a local path or ``file:`` URI cut to its last ``keep``
    parts (``…/`` in front when parts were dropped); anything else unchanged."""
    text = str(value or "")
    if not is_local(text):
        return text
    path = unquote(urlparse(text).path) if text.startswith("file:") else text
    parts = [p for p in re.split(r"[\\/]+", path) if p and p != "~" and not p.endswith(":")]
    kept = parts[-keep:] if keep > 0 else []
    if not kept:
        return "(a local path)"
    return ("…/" if len(parts) > len(kept) else "") + "/".join(kept)
