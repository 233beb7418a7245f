"""API keys of the scoring service: made, listed and revoked by an operator, checked per request.

A key reads ``rk_<prefix>_<secret>``. The prefix (8 hex digits) is public: it names the key in
listings, logs and revocations. Only the SHA-256 of the secret is stored, so the key is shown
once, when it is made, and a copy of the database cannot be used to call the service.

Each key belongs to a **client** (the lender's system or team that calls with it): the
decisions a key asks for are that client's, and a key reads back only its own client's
decisions. Each key carries scopes: ``score`` (ask for decisions), ``read_decisions`` (read a
stored decision of the key's own client; it holds personal data), ``audit`` (read the decisions
of every client, each read recorded in the audit chain) and ``admin`` (every scope but
``audit``, which is only ever given by name). Creating and revoking a key are audited
(``api_key.created``, ``api_key.revoked``).

Per request, :class:`KeyRing` looks the prefix up in a copy of the key table held in memory and
refreshed from the store, compares digests in constant time (``hmac.compare_digest``) and
answers who calls (:class:`Caller`: key name, prefix, client, scopes).

Example::

    made = create_key(ctx, "loan-portal", client="acme-bank", scopes=["score"], actor="oscar")
    print(made.token)                      # rk_1f2e3d4c_…, shown only now
    ring = KeyRing.load(ctx.store)
    ring.authorise(made.token, scope="score").client   # 'acme-bank'
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

Scope = Literal["score", "read_decisions", "audit", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
# What admin does not grant: reading every client's decisions is given only by name.
EXPLICIT_SCOPES = frozenset({"audit"})
MAX_CLIENT = 100

KEY_MARK = "rk"
_PREFIX_BYTES = 4
_SECRET_BYTES = 32


class ApiKeyMissing(PermissionDeniedError):
    """No API key, or one that is malformed, unknown or revoked (HTTP 401)."""

    code = "api_key_missing"


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key without its secret."""

    kind: ClassVar[str] = "riskops.api_key@1"

    name: str
    client: str
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
            "client": self.client,
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


def create_key(
    ctx: Context,
    name: str,
    *,
    client: str | None,
    scopes: Sequence[str],
    actor: str | None,
) -> CreatedKey:
    """Make an API key named ``name`` for ``client`` with ``scopes``; only an operator may."""
    who = require_actor(actor)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 100:
        raise InputError(
            f"An API key needs a name of 1 to 100 characters, got {name!r}.",
            hint="Name it after its caller: riskops keys create loan-portal --client acme-bank "
            "--scope score",
        )
    clean_client = _check_client(client, clean_name)
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
            client=clean_client,
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
            payload={
                "name": clean_name,
                "client": clean_client,
                "scopes": list(wanted),
                "key_sha256": row.key_sha256,
            },
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
class Caller:
    """Who calls with a valid key: the key's name and prefix, its client and its scopes."""

    name: str
    prefix: str
    client: str
    scopes: frozenset[str]

    @property
    def auditor(self) -> bool:
        """Whether the key reads every client's decisions (the ``audit`` scope)."""
        return "audit" in self.scopes


@dataclass(frozen=True)
class _Entry:
    digest: str
    caller: Caller


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
                r.prefix: _Entry(
                    r.key_sha256, Caller(r.name, r.prefix, r.client, frozenset(r.scopes))
                )
                for r in rows
            }

    def export(self) -> list[dict[str, Any]]:
        """The active keys in their stored form (prefix, SHA-256 of the secret, scopes, name),
        for the deployment snapshot (:mod:`riskops.serving.snapshot`)."""
        return [
            {
                "prefix": prefix,
                "sha256": e.digest,
                "scopes": sorted(e.caller.scopes),
                "name": e.caller.name,
                "client": e.caller.client,
            }
            for prefix, e in sorted(self._entries.items())
        ]

    def adopt(self, keys: Sequence[Mapping[str, Any]]) -> None:
        """Accept ``keys`` (as :meth:`export` gives them) until the next :meth:`refresh`."""
        self._entries = {
            str(k["prefix"]): _Entry(
                str(k["sha256"]),
                Caller(
                    str(k["name"]),
                    str(k["prefix"]),
                    str(k.get("client") or k["name"]),
                    frozenset(k["scopes"]),
                ),
            )
            for k in keys
        }

    def authorise(self, token: str | None, *, scope: Scope | Sequence[Scope]) -> Caller:
        """Who calls with ``token``, if the key is active and holds ``scope`` (or one of
        several; admin holds every scope but ``audit``); ApiKeyMissing (401) or
        PermissionDeniedError (403) otherwise."""
        if not token:
            raise ApiKeyMissing(
                "This endpoint needs an API key.",
                hint="Send it as 'Authorization: Bearer rk_…' or 'X-API-Key: rk_…'; an "
                "operator makes one with: riskops keys create NAME --client CLIENT --scope score",
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
        caller = entry.caller
        held = caller.scopes
        if isinstance(scope, str):  # the hot path: one scope, usually held
            if scope in held or ("admin" in held and scope not in EXPLICIT_SCOPES):
                return caller
            wanted: tuple[str, ...] = (scope,)
        else:
            wanted = tuple(scope)
        if not any(s in held or ("admin" in held and s not in EXPLICIT_SCOPES) for s in wanted):
            named = " or ".join(repr(s) for s in wanted)
            raise PermissionDeniedError(
                f"The API key {prefix} ({caller.name}) lacks the scope {named}; it has "
                f"{', '.join(sorted(held))}.",
                actor=caller.name,
                hint=f"Use a key with the scope, or make one: riskops keys create NAME "
                f"--client CLIENT --scope {wanted[0]}",
            )
        return caller


def _check_client(client: str | None, name: str) -> str:
    clean = (client or "").strip()
    if not clean:
        raise InputError(
            "An API key needs a client: the system or team whose decisions it asks for and "
            "reads back.",
            hint=f"Name the client: riskops keys create {name} --client acme-bank --scope score",
        )
    if len(clean) > MAX_CLIENT:
        raise InputError(
            f"A client name has 1 to {MAX_CLIENT} characters, got {len(clean)}.",
            hint="Use a short, stable name, e.g. --client acme-bank",
        )
    return clean


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
            hint="For example: riskops keys create loan-portal --client acme-bank --scope score",
        )
    return tuple(dict.fromkeys(scopes))


def _key(row: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        name=row.name,
        client=row.client,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
