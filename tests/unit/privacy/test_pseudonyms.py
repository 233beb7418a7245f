from __future__ import annotations

import hashlib
import hmac

from riskops.privacy.pseudonyms import pseudonym
from riskops.privacy.secrets import WorkspaceSecrets


def test_pseudonym_is_the_keyed_hmac_of_the_subject_id() -> None:
    keys = WorkspaceSecrets.from_secret(b"\x01" * 32)
    expected = hmac.new(keys.pseudonym_key, b"C-10042", hashlib.sha256).hexdigest()
    assert pseudonym(keys, "C-10042") == expected
    assert len(expected) == 64


def test_same_subject_same_pseudonym_another_workspace_another() -> None:
    one, two = (
        WorkspaceSecrets.from_secret(b"\x01" * 32),
        WorkspaceSecrets.from_secret(b"\x02" * 32),
    )
    assert pseudonym(one, "C-1") == pseudonym(one, "C-1")
    assert pseudonym(one, "C-1") != pseudonym(one, "C-2")
    assert pseudonym(one, "C-1") != pseudonym(two, "C-1")
    # Without the key, the plain hash of the id does not give the pseudonym.
    assert pseudonym(one, "C-1") != hashlib.sha256(b"C-1").hexdigest()
