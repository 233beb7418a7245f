"""Keyed pseudonyms of data subjects.

A subject's key from a request (a customer or application number) is never stored; the store
holds only ``HMAC-SHA256(pseudonym_key, subject_id as UTF-8)`` in hex (64 characters, RFC 2104),
with the workspace's pseudonym key (:mod:`riskops.privacy.secrets`). Without that key the
pseudonym cannot be recomputed from a guessed subject id (unlike a bare hash of a short
account number); with it, the same subject always gets the same pseudonym, so a subject access
request finds every decision about them.

Example::

    pseudonym(secrets, "C-10042")  # '5c1f…' (64 hex digits)
"""

from __future__ import annotations

import hashlib
import hmac

from riskops.privacy.secrets import WorkspaceSecrets

PSEUDONYM_HEX = 64


def pseudonym(secrets: WorkspaceSecrets, subject_id: str) -> str:
    """The subject's pseudonym: HMAC-SHA256 of the subject id under the pseudonym key, in hex."""
    return hmac.new(secrets.pseudonym_key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()
