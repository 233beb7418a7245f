"""Witness cosignatures (C2SP tlog-cosignature, Ed25519 ``cosignature/v1``): the byte layout
checked against the spec's definitions with the Ed25519 primitive directly, and every refusal."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from riskops.audit.cosignature import CosignatureVerifier, Cosigner
from riskops.audit.note import Signer
from riskops.errors import InputError

# The checkpoint body of the example in C2SP tlog-cosignature.md.
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_a_cosignature_has_the_layout_of_the_spec() -> None:
    cosigner = Cosigner.generate("witness.example/w1")
    line = cosigner.cosign(BODY, timestamp=1679315147)
    assert line.startswith("— witness.example/w1 ")
    blob = base64.b64decode(line.rstrip("\n").split(" ")[2])
    # key id = SHA-256(name || "\n" || 0x04 || 32-byte public key)[:4]
    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + cosigner.public_key).digest()[:4]
    assert blob[:4] == expected_id
    assert struct.unpack(">Q", blob[4:12]) == (1679315147,)
    message = b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    Ed25519PublicKey.from_public_bytes(cosigner.public_key).verify(blob[12:], message)
    assert len(blob) == 76


def test_verifier_key_round_trip_and_checks() -> None:
    cosigner = Cosigner.generate("witness.example/w1")
    verifier = CosignatureVerifier.parse(cosigner.verifier_key)
    assert verifier == cosigner.verifier
    name, key_id, encoded = cosigner.verifier_key.split("+", 2)
    assert (name, key_id) == ("witness.example/w1", verifier.key_id.hex())
    assert base64.b64decode(encoded)[0] == 0x04
    line = cosigner.cosign(BODY, timestamp=7)
    assert verifier.verify(line, BODY) == 7
    # Another key's line, or not a signature line at all, is not this verifier's business.
    other = Cosigner.generate("witness.example/w2").cosign(BODY, timestamp=7)
    assert verifier.verify(other, BODY) is None
    assert verifier.verify("example.com/behind-the-sofa", BODY) is None
    # This key's line over another body, or with a changed timestamp, fails loudly.
    with pytest.raises(ValueError, match=r"the cosignature by witness\.example/w1 does not verify"):
        verifier.verify(line, BODY.replace("20852163", "20852164"))
    blob = bytearray(base64.b64decode(line.rstrip("\n").split(" ")[2]))
    blob[11] ^= 1
    forged = f"— witness.example/w1 {base64.b64encode(bytes(blob)).decode()}"
    with pytest.raises(ValueError, match="does not verify"):
        verifier.verify(forged, BODY)


def test_a_log_key_is_not_a_cosigner_key() -> None:
    log_vkey = Signer.generate("witness.example/w1").verifier().text()
    with pytest.raises(InputError, match="algorithm byte 0x01, not 0x04") as caught:
        CosignatureVerifier.parse(log_vkey)
    assert "riskops witness keygen" in (caught.value.hint or "")


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    cosigner = Cosigner.generate("witness.example/w1")
    path = tmp_path / "witness.key"
    cosigner.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+witness.example/w1+")
    assert Cosigner.from_file(path) == cosigner
    with pytest.raises(FileExistsError):
        Cosigner.generate("witness.example/w1").write(path)
    assert Cosigner.from_file(path) == cosigner


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("witness.example/w1+00000000+AAAA", "does not start with PRIVATE\\+KEY\\+"),
        ("PRIVATE+KEY+w1+nothex+AAAA", "is not a cosigner key string"),
        (
            "PRIVATE+KEY+has space+00000000+" + base64.b64encode(b"\x04" + bytes(32)).decode(),
            "key name",
        ),
    ],
)
def test_bad_private_keys(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Cosigner.parse(text)


def test_an_edited_private_key_is_refused() -> None:
    cosigner = Cosigner.generate("witness.example/w1")
    text = cosigner.private_key_text().replace("witness.example/w1", "witness.example/w9")
    with pytest.raises(InputError, match="does not match the key"):
        Cosigner.parse(text)
