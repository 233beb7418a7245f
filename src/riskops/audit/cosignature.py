"""Witness cosignatures: C2SP tlog-cosignature ``cosignature/v1`` over Ed25519.

A cosignature says "as of time t, the largest consistent tree head I have seen for this origin
is this checkpoint". It is a signed-note signature line::

    — <cosigner name> base64(key_id[4] || timestamp[8, big-endian] || ed25519_signature[64])

signed over ``"cosignature/v1\\ntime <t>\\n" + checkpoint body`` (the body with its final
newline, no signature lines), with the key id
``SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]``
(https://c2sp.org/tlog-cosignature). A cosigner key is kept as the signed-note key strings::

    PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || 32-byte seed)>     (the witness's secret)
    <name>+<hex key id>+<base64(0x04 || 32-byte public key)>           (its verifier key, pinned)

Example::

    cosigner = Cosigner.generate("witness.example/w1")
    line = cosigner.cosign("example.com/log\\n3\\n<base64 root>\\n", timestamp=1700000000)
    CosignatureVerifier.parse(cosigner.verifier_key).verify(line, body)  # -> 1700000000
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from riskops.audit.note import key_id
from riskops.errors import InputError

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1"
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH and a space: the signed-note signature line
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 ``cosignature/v1`` key (C2SP tlog-cosignature)."""
    return key_id(name, ALG_COSIGNATURE_V1, public_key)


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header line, time line, then the checkpoint body."""
    if not body.endswith("\n"):
        raise ValueError("a checkpoint body ends with a newline")
    return f"{HEADER}\ntime {timestamp}\n{body}".encode()


def _check_name(name: str, where: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise InputError(
            f"{where}: the key name {name!r} must be non-empty, without spaces or '+'.",
            hint="Use a schema-less URL naming the witness, e.g. witness.example.com/riskops",
        )


def _decode_key(text: str, where: str) -> tuple[str, bytes, bytes]:
    """Split ``<name>+<hex id>+<base64(alg || key)>`` into name, key id and key material."""
    hint = "A cosigner key reads <name>+<8 hex digits>+<base64>; riskops witness keygen prints one."
    # A name holds no "+", base64 may: split from the left.
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise InputError(f"{where} is not a cosigner key string.", hint=hint)
    name, key_id_hex, rest = parts
    try:
        key_id = bytes.fromhex(key_id_hex)
        blob = base64.b64decode(rest, validate=True)
    except (ValueError, binascii.Error):
        raise InputError(f"{where} is not a cosigner key string.", hint=hint) from None
    if len(key_id) != 4 or len(blob) != 33:
        raise InputError(f"{where} is not a cosigner key string.", hint=hint)
    if blob[0] != ALG_COSIGNATURE_V1:
        raise InputError(
            f"{where} has algorithm byte 0x{blob[0]:02x}, not 0x04 (Ed25519 cosignature/v1).",
            hint="A log's own signing key (0x01) cannot cosign; make a witness key with: "
            "riskops witness keygen NAME --out FILE",
        )
    _check_name(name, where)
    return name, key_id, blob[1:]


@dataclass(frozen=True)
class CosignatureVerifier:
    """A pinned witness key: checks ``cosignature/v1`` lines made by it."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    @classmethod
    def parse(cls, text: str, *, where: str = "the verifier key") -> CosignatureVerifier:
        """Read ``<name>+<hex key id>+<base64(0x04 || public key)>``; the key id must match."""
        name, key_id, public = _decode_key(text, where)
        verifier = cls(name, public)
        if verifier.key_id != key_id:
            raise InputError(
                f"{where}: the key id {key_id.hex()} does not match the name and key "
                f"(expected {verifier.key_id.hex()}).",
                hint="Copy the verifier key exactly as riskops witness keygen printed it.",
            )
        return verifier

    def verify(self, line: str, body: str) -> int | None:
        """The timestamp of ``line`` if it is a valid cosignature by this key over ``body``;
        None if the line is another key's (or not a signature line). Raises ValueError when the
        line claims this key but its signature does not verify."""
        line = line.rstrip("\n")
        if not line.startswith(SIGNATURE_PREFIX):
            return None
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            return None
        if name != self.name or len(blob) < 4 or blob[:4] != self.key_id:
            return None
        if len(blob) != 4 + 8 + 64:
            raise ValueError(f"the cosignature by {self.name} is {len(blob)} bytes, not 76")
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > _MAX_TIMESTAMP:
            raise ValueError(f"the cosignature by {self.name} has a timestamp above 2^63-1")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                blob[12:], cosigned_message(body, timestamp)
            )
        except InvalidSignature:
            raise ValueError(f"the cosignature by {self.name} does not verify") from None
        return int(timestamp)


@dataclass(frozen=True)
class Cosigner:
    """A witness's private key: makes ``cosignature/v1`` lines."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        _check_name(name, "the witness name")
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, seed)

    @classmethod
    def parse(cls, text: str, *, where: str = "the witness key") -> Cosigner:
        """Read ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>``."""
        if not text.startswith(_PRIVATE_PREFIX):
            raise InputError(
                f"{where} does not start with {_PRIVATE_PREFIX}.",
                hint="Make a witness key with: riskops witness keygen NAME --out FILE",
            )
        name, key_id, seed = _decode_key(text[len(_PRIVATE_PREFIX) :], where)
        cosigner = cls(name, seed)
        if cosigner.verifier.key_id != key_id:
            raise InputError(
                f"{where}: the key id {key_id.hex()} does not match the key.",
                hint="The file was edited; restore it or make a new key (and pin the new "
                "verifier key everywhere).",
            )
        return cosigner

    @classmethod
    def from_file(cls, path: Path) -> Cosigner:
        """Read a key file, refusing one that others than its owner may read."""
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"Cannot read the witness key {path}: {exc.strerror}.",
                hint="Make one with: riskops witness keygen NAME --out FILE",
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(
                f"The witness key {path} is readable by others (mode {stat.filemode(mode)}).",
                hint=f"chmod 600 {path}",
            )
        return cls.parse(text.strip(), where=str(path))

    @property
    def public_key(self) -> bytes:
        return (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.public_key)

    @property
    def verifier_key(self) -> str:
        """The public key string to pin in the log's configuration."""
        blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.verifier.key_id.hex()}+{blob}"

    def private_key_text(self) -> str:
        blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.seed).decode()
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id.hex()}+{blob}"

    def write(self, path: Path) -> None:
        """Write the key to a new file with mode 0600 (never over an existing one)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.private_key_text() + "\n")

    def cosign(self, body: str, *, timestamp: int) -> str:
        """One signature line (with its newline) cosigning the checkpoint ``body``."""
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise ValueError(f"timestamp {timestamp} is outside 0..2^63-1")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = key.sign(cosigned_message(body, timestamp))
        blob = self.verifier.key_id + struct.pack(">Q", timestamp) + signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"
