"""API keys of the scoring service: made, listed and revoked by an operator, checked per request.

A key reads ``rk_<prefix>_<secret>``. The prefix (8 hex digits) is public: it names the key in
listings, logs and revocations. Only the SHA-256 of the secret is stored, so the key is shown
once, when it is made, and a copy of the database cannot be used to call the service.

Each key carries scopes: ``score`` (ask for decisions), ``read_decisions`` (read a stored
decision, which holds personal data) and ``admin`` (every scope). Creating and revoking a key
are audited (``api_key.created``, ``api_key.revoked``).

Per request, :class:`KeyRing` looks the prefix up in a copy of the key table held in memory and
refreshed from the store, and compares digests in constant time (``hmac.compare_digest``).

Example::

    made = create_key(ctx, "loan-portal", scopes=["score"], actor="oscar")
    print(made.token)                      # rk_1f2e3d4c_…, shown only now
    ring = KeyRing.load(ctx.store)
    ring.authorise(made.token, scope="score")
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import select

from riskops.audit import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from riskops.governance.roles import require_actor, require_role
from riskops.store import Store
from riskops.store.tables import ApiKeyRecord

Scope = Literal["score", "read_decisions", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)

KEY_MARK = "rk"
_PREFIX_BYTES = 4
_SECRET_BYTES = 32


class ApiKeyMissing(PermissionDeniedError):
    """No API key, or one that is malformed, unknown or revoked (HTTP 401)."""


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key without its secret."""

    kind: ClassVar[str] = "riskops.api_key@1"

    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key: its record and the token, which is never shown again."""

    key: ApiKey
    token: str


def secret_digest(secret: str) -> str:
    """The stored form of a key's secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(ctx: Context, name: str, *, scopes: Sequence[str], actor: str | None) -> CreatedKey:
    """Make an API key named ``name`` with ``scopes``; only an operator may."""
    who = require_actor(actor)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 100:
        raise InputError(
            f"An API key needs a name of 1 to 100 characters, got {name!r}.",
            hint="Name it after its caller: riskops keys create loan-portal --scope score",
        )
    wanted = _check_scopes(scopes)
    role = require_role(ctx.settings, who, Role.OPERATOR, doing="create an API key")
    now = ctx.clock()
    with ctx.store.transaction() as session:
        taken = set(session.execute(select(ApiKeyRecord.prefix)).scalars())
        prefix = secrets.token_hex(_PREFIX_BYTES)
        while prefix in taken:
            prefix = secrets.token_hex(_PREFIX_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        row = ApiKeyRecord(
            name=clean_name,
            client=clean_name,  # until keys name their client: a key is its own (migration 0004)
            prefix=prefix,
            key_sha256=secret_digest(secret),
            scopes=list(wanted),
            created_by=who,
            created_at=now,
            revoked_at=None,
        )
        session.add(row)
        record(
            session,
            actor=who,
            role=role.value,
            action="api_key.created",
            object_type="api_key",
            object_id=prefix,
            payload={"name": clean_name, "scopes": list(wanted)},
            at=now,
        )
        return CreatedKey(key=_key(row), token=f"{KEY_MARK}_{prefix}_{secret}")


def list_keys(ctx: Context) -> list[ApiKey]:
    """Every key, oldest first, without secrets."""
    with ctx.store.reading() as session:
        rows = session.execute(select(ApiKeyRecord).order_by(ApiKeyRecord.id)).scalars()
        return [_key(r) for r in rows]


def revoke_key(ctx: Context, prefix: str, *, actor: str | None) -> ApiKey:
    """Revoke the key with ``prefix``; running servers refuse it after their next refresh."""
    who = require_actor(actor)
    role = require_role(ctx.settings, who, Role.OPERATOR, doing="revoke an API key")
    now = ctx.clock()
    with ctx.store.transaction() as session:
        row = session.execute(
            select(ApiKeyRecord).where(ApiKeyRecord.prefix == prefix.strip())
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(
                f"No API key with prefix {prefix!r}.",
            )
        if row.revoked_at is not None:
            raise ConflictError(
                f"The API key {prefix} ({row.name}) was already revoked on "
                f"{row.revoked_at:%Y-%m-%d %H:%M} UTC.",
                hint="riskops keys list shows every key and its state.",
            )
        row.revoked_at = now
        record(
            session,
            actor=who,
            role=role.value,
            action="api_key.revoked",
            object_type="api_key",
            object_id=row.prefix,
            payload={"name": row.name},
            at=now,
        )
        return _key(row)


@dataclass(frozen=True)
class _Entry:
    digest: str
    scopes: frozenset[str]
    name: str


class KeyRing:
    """The active keys, by prefix, as of the last :meth:`refresh`; safe to share between threads
    (a refresh replaces the whole mapping at once)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._entries: Mapping[str, _Entry] = {}

    @classmethod
    def load(cls, store: Store) -> KeyRing:
        ring = cls(store)
        ring.refresh()
        return ring

    def refresh(self) -> None:
        """Re-read the active keys from the store."""
        with self._store.reading() as session:
            rows = session.execute(
                select(ApiKeyRecord).where(ApiKeyRecord.revoked_at.is_(None))
            ).scalars()
            self._entries = {
                r.prefix: _Entry(r.key_sha256, frozenset(r.scopes), r.name) for r in rows
            }

    def authorise(self, token: str | None, *, scope: Scope) -> str:
        """The name of the key ``token`` if it is active and holds ``scope`` (or admin);
        ApiKeyMissing (401) or PermissionDeniedError (403) otherwise."""
        if not token:
            raise ApiKeyMissing(
                "This endpoint needs an API key.",
                hint="Send it as 'Authorization: Bearer rk_…' or 'X-API-Key: rk_…'; an "
                "operator makes one with: riskops keys create NAME --scope score",
            )
        mark, _, rest = token.partition("_")
        prefix, _, secret = rest.partition("_")
        entry = self._entries.get(prefix) if mark == KEY_MARK and secret else None
        # Compare against a digest even for an unknown prefix, so timing does not tell them apart.
        expected = entry.digest if entry is not None else "0" * 64
        if not hmac.compare_digest(secret_digest(secret), expected) or entry is None:
            raise ApiKeyMissing(
                "The API key is not valid: it is malformed, unknown or revoked.",
                hint="Check the key; riskops keys list shows the active keys by prefix.",
            )
        if scope not in entry.scopes and "admin" not in entry.scopes:
            raise PermissionDeniedError(
                f"The API key {prefix} ({entry.name}) lacks the scope {scope!r}; it has "
                f"{', '.join(sorted(entry.scopes))}.",
                actor=entry.name,
                hint=f"Use a key with the scope, or make one: riskops keys create NAME "
                f"--scope {scope}",
            )
        return entry.name


def _check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = [scopes]
    if not scopes:
        raise InputError(
            "An API key needs at least one scope.",
            hint=f"Give --scope once per scope; scopes are: {', '.join(SCOPES)}.",
        )
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InputError(
            f"Unknown scope(s) {', '.join(repr(s) for s in unknown)}; valid scopes are: "
            f"{', '.join(SCOPES)}.",
            hint="For example: riskops keys create loan-portal --scope score",
        )
    return tuple(dict.fromkeys(scopes))


def _key(row: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
