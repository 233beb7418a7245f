"""Signed notes and transparency-log checkpoints, signed with Ed25519.

The formats are C2SP's signed-note (https://c2sp.org/signed-note) and tlog-checkpoint
(https://c2sp.org/tlog-checkpoint); notes, keys and signatures are byte for byte those of Go's
``golang.org/x/mod/sumdb/note``, so a note signed here opens there and the other way round.

A signed note is a text ending in a newline, a blank line, then one or more signature lines::

    example.com/riskops/audit            <- checkpoint origin    \\
    1234                                 <- tree size             | the note text (signed)
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=   <- root        /
                                         <- blank line
    — example.com/riskops/audit Az3grlgt…=   <- "— " name " " base64(key id || signature)

- The whole note is UTF-8 with no control character other than the newline; the text runs to
  the last blank line, and is what each key signs (with its final newline).
- A key id is ``SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]``; a
  signature line carries it before the 64-byte Ed25519 signature, so a verifier finds its line
  by (name, key id).
- A verifier key is ``<name>+<key id, 8 lower-case hex>+<base64(0x01 || public key)>``; a
  signer key is ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``. Names are
  non-empty and hold no Unicode space, no ``+`` and no control character.

Opening a note checks every signature line from a known key (name and key id both match) and
refuses the note when one fails; lines from other keys are set aside, as the spec requires,
which is what lets keys rotate (sign with old and new for an overlap) and witnesses cosign.
A note with no verified known signature is refused; so is one with more than 100 lines.

Stricter than Go in three ways, none of which changes what Go writes: base64 must be canonical
(Go accepts non-zero padding bits, so two spellings of one signature would both verify), a key
id must be lower-case hex, and a known key's repeated line is verified again, not skipped.

Example::

    signer = Signer.generate("example.com/riskops/audit")
    note = sign_note(Checkpoint("example.com/riskops/audit", 3, root).body(), [signer])
    opened = open_note(note, [signer.verifier()])
    Checkpoint.parse(opened.text).size    # 3
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shlex
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from riskops.errors import InputError

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # Go's limit; the spec asks for at least 16
MAX_TREE_SIZE = 2**63 - 1  # Go's tlog parses sizes as int64
SIGNING_KEY_ENV = "RISKOPS_AUDIT_SIGNING_KEY"

_PRIVATE_PREFIX = "PRIVATE+KEY+"
_SIG_PREFIX = "— ".encode()
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
# Go's unicode.IsSpace: the Unicode White_Space property.
_SPACES = frozenset((*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B))).union(
    (0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
)


class NoteError(ValueError):
    """A malformed note, key or checkpoint, or a note whose signatures do not hold."""


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || alg || public_key)[:4]``, as C2SP
    recommends and Go computes (``alg`` is the signature type byte, 0x01 for Ed25519)."""
    if not 0 <= alg <= 0xFF:
        raise NoteError(f"signature type {alg} is not one byte")
    return hashlib.sha256(_utf8(name) + b"\n" + bytes([alg]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that checks one name's signatures: ``name``, ``key_id`` (4 bytes) and
    ``public_key`` (the raw 32-byte Ed25519 key).

    Example: ``Verifier.parse("PeterNeumann+c74f20a3+ARpc2Q…").name == "PeterNeumann"``.
    """

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(
                f"an Ed25519 public key is 32 bytes, not {len(self.public_key)} (key {self.name!r})"
            )
        if self.key_id != key_id(self.name, ALG_ED25519, self.public_key):
            raise NoteError(f"key id {self.key_id.hex()} is not that of key {self.name!r}")

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read a verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        name, id_hex, key = _split_key(vkey, f"verifier key {vkey!r}")
        if key[0] != ALG_ED25519:
            raise NoteError(f"verifier key {vkey!r} is not Ed25519 (type {key[0]:#04x})")
        if len(key) != 33:
            raise NoteError(f"verifier key {vkey!r} does not hold a 32-byte Ed25519 key")
        if id_hex != key_id(name, ALG_ED25519, key[1:]).hex():
            raise NoteError(f"verifier key {vkey!r}: key id does not match name and key")
        return cls(name, bytes.fromhex(id_hex), key[1:])

    def text(self) -> str:
        """The verifier key string, as :meth:`parse` reads it."""
        encoded = _b64(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """A private Ed25519 key with its name; keep :meth:`text` secret.

    Example: ``Signer.generate("example.com/log").verifier().text()`` is the key to pin.
    """

    __slots__ = ("_private", "key_id", "name")
    name: str
    key_id: bytes

    def __init__(self, name: str, seed: bytes) -> None:
        _check_name(name)
        if len(seed) != 32:
            raise NoteError(f"an Ed25519 private key seed is 32 bytes, not {len(seed)}")
        self.name = name
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.key_id = key_id(name, ALG_ED25519, self._public_bytes())

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key for ``name``."""
        return cls(name, os.urandom(32))

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Read a signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``.

        Error messages never repeat the key.
        """
        if not skey.startswith(_PRIVATE_PREFIX):
            raise NoteError("a signer key starts with PRIVATE+KEY+")
        name, id_hex, key = _split_key(skey[len(_PRIVATE_PREFIX) :], "the signer key")
        if key[0] != ALG_ED25519:
            raise NoteError(f"signer key {name!r} is not Ed25519 (type {key[0]:#04x})")
        if len(key) != 33:
            raise NoteError(f"signer key {name!r} does not hold a 32-byte Ed25519 seed")
        signer = cls(name, key[1:])
        if signer.key_id.hex() != id_hex:
            raise NoteError(f"signer key {name!r}: key id does not match name and key")
        return signer

    def text(self) -> str:
        """The signer key string (secret), as :meth:`parse` reads it."""
        seed = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return (
            f"{_PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_ED25519]) + seed)}"
        )

    def verifier(self) -> Verifier:
        """The matching public key."""
        return Verifier(self.name, self.key_id, self._public_bytes())

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()!r})"

    def _public_bytes(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` with each signer: ``text + "\\n" + one "— <name> <base64>\\n" per key``.

    ``text`` must be non-empty, end in a newline and hold no control character but newlines.
    """
    raw = _utf8(text)
    if not raw.endswith(b"\n"):
        raise NoteError("a note text must end with a newline")
    _check_chars(raw)
    return text + "\n" + "".join(_signature_lines(raw, signers, existing=0))


def add_signatures(note: str, signers: Sequence[Signer]) -> str:
    """Add signatures to a signed note (cosigning, key rotation).

    Existing lines stay, in order, except a line by one of ``signers``' own keys, which its
    fresh signature replaces (as Go's ``Sign`` does); the new lines come last. Existing
    signatures are not checked here: :func:`open_note` does that.
    """
    text, lines = _split_note(_utf8(note))
    adding = {(s.name, s.key_id) for s in signers}
    kept = [line for line in lines if (line.name, line.key_id) not in adding]
    new = _signature_lines(text, signers, existing=len(kept))
    return text.decode() + "\n" + "".join(line.raw.decode() + "\n" for line in kept) + "".join(new)


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text a known key signed: ``verified`` lists those keys in the order of
    their lines; ``unknown`` holds the lines of other keys (without their newline)."""

    text: str
    verified: tuple[Verifier, ...]
    unknown: tuple[str, ...]


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Check a signed note against the known ``verifiers`` and return its text.

    Raises :class:`NoteError` when the note is malformed, when a known key's signature fails,
    when two different known keys share a name and key id, or when no known key signed it.
    """
    raw = note if isinstance(note, bytes) else _utf8(note)
    text, lines = _split_note(raw)
    known: dict[tuple[str, bytes], Verifier] = {}
    clashing: set[tuple[str, bytes]] = set()
    for verifier in verifiers:
        pair = (verifier.name, verifier.key_id)
        if known.setdefault(pair, verifier) != verifier:
            clashing.add(pair)
    verified: list[Verifier] = []
    unknown: list[str] = []
    for line in lines:
        pair = (line.name, line.key_id)
        if pair in clashing:
            raise NoteError(f"two known keys are both {line.name}+{line.key_id.hex()}")
        found = known.get(pair)
        if found is None:
            if line.raw.decode() not in unknown:
                unknown.append(line.raw.decode())
            continue
        if not found.verify(text, line.signature):
            raise NoteError(f"invalid signature for key {line.name}+{line.key_id.hex()}")
        if found not in verified:
            verified.append(found)
    if not verified:
        raise NoteError("note has no verifiable signatures: no known key signed it")
    return OpenedNote(text.decode(), tuple(verified), tuple(unknown))


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as the C2SP checkpoint text: origin, tree size, RFC 6962 root.

    Example: ``Checkpoint("example.com/log", 2, root).body()`` is
    ``"example.com/log\\n2\\n<base64 root>\\n"``; extension lines are not written or read.
    """

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not self.origin:
            raise NoteError("a checkpoint origin must not be empty")
        _check_chars(_utf8(self.origin))
        if "\n" in self.origin:
            raise NoteError("a checkpoint origin is one line")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"a tree size is an integer from 0 to 2**63-1, not {self.size!r}")
        if len(self.root) != 32:
            raise NoteError(f"a checkpoint root is a 32-byte hash, not {len(self.root)} bytes")

    def body(self) -> str:
        """The note text: ``"<origin>\\n<size>\\n<base64 root>\\n"``."""
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint note text (:attr:`OpenedNote.text`); refuses extension lines."""
        if not text.endswith("\n"):
            raise NoteError("a checkpoint ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) != 3:
            raise NoteError(
                f"a checkpoint is three lines (origin, size, root), not {len(lines)}"
                + ("; extension lines are not accepted" if len(lines) > 3 else "")
            )
        origin, size, root = lines
        if not _TREE_SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
            raise NoteError(f"tree size {size!r} is not a decimal number without leading zeros")
        return cls(origin, int(size), _unb64(root, "checkpoint root"))


def load_signer(*, key_file: Path | None, environ: Mapping[str, str]) -> Signer | None:
    """The audit signing key: ``environ["RISKOPS_AUDIT_SIGNING_KEY"]`` (the ``PRIVATE+KEY+…``
    text) if set, else ``key_file`` if given, else None.

    A key file must be a regular file owned by the current user with mode 0600 or stricter.
    """
    if SIGNING_KEY_ENV in environ:
        try:
            return Signer.parse(environ[SIGNING_KEY_ENV].strip())
        except NoteError as error:
            raise InputError(
                f"{SIGNING_KEY_ENV} does not hold a signing key: {error}",
                hint=f"set {SIGNING_KEY_ENV} to the PRIVATE+KEY+… line of a key file, "
                f"or unset it to use the key file",
            ) from None
    if key_file is None:
        return None
    path = shlex.quote(str(key_file))
    try:
        fd = os.open(key_file, os.O_RDONLY)
    except FileNotFoundError:
        raise InputError(
            f"The signing key file {key_file} does not exist.",
            hint=f"create one (it is written with mode 0600), or set {SIGNING_KEY_ENV}",
        ) from None
    except OSError as error:
        raise InputError(
            f"Cannot read the signing key file {key_file}: {error.strerror}.",
            hint=f"check the path, or chmod 600 {path}",
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"The signing key file {key_file} is not a regular file.",
                hint="point the key file setting at the file that holds the PRIVATE+KEY+… line",
            )
        if info.st_uid != os.geteuid():
            raise InputError(
                f"The signing key file {key_file} belongs to user id {info.st_uid}, "
                f"not to the user running riskops ({os.geteuid()}).",
                hint=f"chown $(id -u) {path} && chmod 600 {path}",
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & ~0o600:
            raise InputError(
                f"The signing key file {key_file} has mode {mode:04o}; a private key "
                f"must be readable and writable by its owner only (0600 or stricter).",
                hint=f"chmod 600 {path}",
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            content = handle.read()
    finally:
        os.close(fd)
    try:
        return Signer.parse(content.decode().strip())
    except (UnicodeDecodeError, NoteError) as error:
        raise InputError(
            f"The signing key file {key_file} does not hold a signing key: {error}",
            hint="write a new key file, or restore this one from its backup",
        ) from None


def write_key_file(path: Path, name: str) -> Signer:
    """Generate a key for ``name`` and write its signer key text to a new file with mode 0600.

    Refuses to overwrite an existing file. Returns the signer; pin
    ``signer.verifier().text()`` in the configuration of whoever verifies.
    """
    try:
        signer = Signer.generate(name)
    except NoteError as error:
        raise InputError(
            f"Cannot make a signing key named {name!r}: {error}",
            hint="use a name without spaces or '+', such as example.com/riskops/audit",
        ) from None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise InputError(
            f"The signing key file {path} already exists; it is not overwritten.",
            hint=f"keep using it, or move it away first (mv {shlex.quote(str(path))} "
            f"{shlex.quote(str(path) + '.old')}) and keep it until no checkpoint needs it",
        ) from None
    except OSError as error:
        raise InputError(
            f"Cannot create the signing key file {path}: {error.strerror}.",
            hint=f"check that {path.parent} exists and is writable",
        ) from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write((signer.text() + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())
    return signer


@dataclass(frozen=True)
class _SignatureLine:
    raw: bytes  # without the newline
    name: str
    key_id: bytes
    signature: bytes


def _split_note(raw: bytes) -> tuple[bytes, list[_SignatureLine]]:
    """The text (with its final newline) and the parsed signature lines of a note."""
    _check_chars(raw)
    split = raw.rfind(b"\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = raw[: split + 1], raw[split + 2 :]
    if not block or not block.endswith(b"\n"):
        raise NoteError("malformed note: the signatures must end with a newline")
    rows = block[:-1].split(b"\n")
    if len(rows) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    lines = []
    for row in rows:
        if not row.startswith(_SIG_PREFIX):
            raise NoteError("malformed note: a signature line starts with an em dash and a space")
        name, _, encoded = row[len(_SIG_PREFIX) :].decode().partition(" ")
        if not _valid_name(name):
            raise NoteError(f"malformed note: bad key name {name!r} in a signature line")
        blob = _unb64(encoded, f"malformed note: signature of {name}")
        if len(blob) < 5:
            raise NoteError(f"malformed note: signature of {name} is too short")
        lines.append(_SignatureLine(row, name, blob[:4], blob[4:]))
    return text, lines


def _signature_lines(text: bytes, signers: Sequence[Signer], *, existing: int) -> list[str]:
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    lines: dict[tuple[str, bytes], str] = {}
    for signer in signers:
        pair = (signer.name, signer.key_id)
        line = f"— {signer.name} {_b64(signer.key_id + signer.sign(text))}\n"
        if lines.setdefault(pair, line) != line:
            raise NoteError(f"two signers are both {signer.name}+{signer.key_id.hex()}")
    if existing + len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note holds at most {MAX_SIGNATURES} signatures")
    return list(lines.values())


def _split_key(key: str, what: str) -> tuple[str, str, bytes]:
    """Split ``<name>+<hex id>+<base64>`` (the name holds no '+'; the base64 may)."""
    name, _, rest = key.partition("+")
    id_hex, _, encoded = rest.partition("+")
    if not _valid_name(name):
        raise NoteError(f"{what}: the name is empty or holds a space, '+' or control character")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteError(f"{what}: the key id is not 8 lower-case hex digits")
    return name, id_hex, _unb64(encoded, what)


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise NoteError(f"key name {name!r} is empty or holds a space, '+' or control character")


def _valid_name(name: str) -> bool:
    if not name or "+" in name:
        return False
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return all(ord(c) >= 0x20 and ord(c) not in _SPACES for c in name)


def _check_chars(raw: bytes) -> None:
    """Valid UTF-8 with no control character but the newline (the spec's rule for notes)."""
    try:
        decoded = raw.decode()
    except UnicodeDecodeError:
        raise NoteError("malformed note: not valid UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in decoded):
        raise NoteError("malformed note: holds a control character other than newline")


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise NoteError("malformed note: not valid UTF-8 (lone surrogate)") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(encoded: str, what: str) -> bytes:
    """Strict, canonical standard base64: exactly what :func:`_b64` writes."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what}: not base64") from None
    if not data or _b64(data) != encoded:
        raise NoteError(f"{what}: not canonical base64")
    return data
