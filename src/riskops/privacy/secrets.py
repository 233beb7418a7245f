"""The workspace secret and the keys derived from it.

One 32-byte secret per workspace, given as 64 hex digits in ``RISKOPS_SECRET_KEY`` or kept in
``secret_key_file`` (default ``$RISKOPS_HOME/secret.key``). :func:`load_secrets` creates the file
on first use — 32 bytes from :func:`os.urandom`, written as hex with mode 0600 — never at import
or when settings load. Independent keys are derived from it with HKDF-SHA256 (RFC 5869, no salt)
and one ``info`` label each, so that no key is ever used for two purposes::

    pseudonym_key = HKDF(secret, info="riskops/v1/subject-pseudonym")   # HMAC-SHA256 key
    kek           = HKDF(secret, info="riskops/v1/subject-key-wrap")    # AES-256-GCM, wraps keys
    wal_key       = HKDF(secret, info="riskops/v1/decision-wal")        # AES-256-GCM, local WAL
    fingerprint   = HKDF(secret, info="riskops/v1/workspace-fingerprint")  # hex, kept in the store

The fingerprint names the secret without revealing it: every process on one store must have
the same one (:mod:`riskops.privacy.fingerprint`).

Losing the secret makes every pseudonym unlinkable and every logged feature unreadable; keep a
copy where the workspace's backups go.

Example::

    secrets = load_secrets(settings)
    secrets.pseudonym_key  # 32 bytes
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from riskops.config import Settings
from riskops.errors import ConfigError

SECRET_BYTES = 32
PSEUDONYM_INFO = b"riskops/v1/subject-pseudonym"
KEY_WRAP_INFO = b"riskops/v1/subject-key-wrap"
WAL_INFO = b"riskops/v1/decision-wal"
FINGERPRINT_INFO = b"riskops/v1/workspace-fingerprint"


def derive(secret: bytes, info: bytes) -> bytes:
    """A 32-byte key for one purpose: HKDF-SHA256(secret, salt=None, info) (RFC 5869)."""
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class WorkspaceSecrets:
    """The keys derived from a workspace secret; ``repr`` never shows them."""

    pseudonym_key: bytes = field(repr=False)
    kek: bytes = field(repr=False)
    wal_key: bytes = field(repr=False)
    # One-way and keyed: what the store records so that processes with another secret refuse.
    fingerprint: str = ""

    @classmethod
    def from_secret(cls, secret: bytes) -> WorkspaceSecrets:
        if len(secret) != SECRET_BYTES:
            raise ConfigError(
                f"The workspace secret has {len(secret)} bytes; it must have {SECRET_BYTES}.",
                hint="Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
            )
        return cls(
            pseudonym_key=derive(secret, PSEUDONYM_INFO),
            kek=derive(secret, KEY_WRAP_INFO),
            wal_key=derive(secret, WAL_INFO),
            fingerprint=derive(secret, FINGERPRINT_INFO).hex(),
        )


def load_secrets(settings: Settings, *, create: bool = True) -> WorkspaceSecrets:
    """The workspace's keys: from ``RISKOPS_SECRET_KEY``, else from the secret file, created
    (mode 0600) if it does not exist yet and ``create`` is true.

    This never looks at the store: a process that works on one calls
    :func:`riskops.privacy.fingerprint.bind_secrets`, which refuses a secret other than the
    store's."""
    if settings.secret_key:
        return WorkspaceSecrets.from_secret(_parse(settings.secret_key, "RISKOPS_SECRET_KEY"))
    path = secret_file(settings)
    if not create and not path.is_file():
        raise ConfigError(
            f"No workspace secret: RISKOPS_SECRET_KEY is not set and {path} does not exist.",
            hint="Set RISKOPS_SECRET_KEY to the workspace's secret (64 hex digits), or copy the "
            f"workspace's secret.key to {path}.",
        )
    return WorkspaceSecrets.from_secret(_read_or_create(path))


def secret_file(settings: Settings) -> Path:
    """Where the workspace secret is kept when ``RISKOPS_SECRET_KEY`` is not set."""
    return settings.secret_key_file or settings.home / "secret.key"


def would_generate(settings: Settings) -> bool:
    """True when :func:`load_secrets` would make a new secret (no variable, no file)."""
    return not settings.secret_key and not secret_file(settings).is_file()


def _parse(text: str, where: str) -> bytes:
    value = text.strip()
    try:
        secret = bytes.fromhex(value)
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise ConfigError(
            f"{where} must be {2 * SECRET_BYTES} hex digits (32 bytes); it has "
            f"{len(value)} characters that are not such a value.",
            hint="Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
        )
    return secret


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes start together, one creates the file and the other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _parse(path.read_text(encoding="ascii"), str(path))
    try:
        os.write(fd, (os.urandom(SECRET_BYTES).hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _parse(path.read_text(encoding="ascii"), str(path))
