"""Decision records: what the service hands to the log, what is read back, the WAL line's checks and the leaf hash of a stored decision."""

from __future__ import annotations

import hashlib
import math
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from riskops.audit.chain import canonical_json
from riskops.audit.trail import format_time
from riskops.errors import InputError
from riskops.privacy.keys import NONCE_BYTES
from riskops.scoring.scorer import Decision

ROUTES = ("champion", "canary", "shadow")
SEAL_ACTION = "decisions.batch_sealed"
SERVICE_ACTOR = "decision-log"
SERVICE_ROLE = "service"
WAL_FORMAT = 1

LEAF_FIELDS = (
    "id",
    "decided_at",
    "model_name",
    "version",
    "digest",
    "route",
    "served",
    "subject",
    "score",
    "decision",
    "reasons",
    "latency_ms",
    "fallback",
    "request_sha256",
    "features_nonce",
    "features_ciphertext",
)
# In a decision's leaf only when set: leaves of decisions without a client (all of them before
# clients existed) hash exactly as before, so their sealed batches still verify.
# ``environment`` likewise: decisions logged before environments were recorded hash as before.
OPTIONAL_LEAF_FIELDS = ("client", "environment")


@dataclass(frozen=True)
class LoggedDecision:
    """A decision as the service hands it to the log: raw subject id and plain features, which
    :meth:`DecisionLog.append` pseudonymises and encrypts before anything reaches disk."""

    decision_id: str
    decided_at: datetime
    model_name: str
    version: int
    digest: str
    route: str
    served: bool
    subject_id: str
    features: Mapping[str, Any] = field(repr=False)
    score: float | None
    decision: str
    reasons: Sequence[Mapping[str, Any]]
    latency_ms: float
    fallback: bool
    request_sha256: str
    client: str | None = None  # the client of the API key that asked for it
    environment: str | None = None  # where it was decided (production, staging…)

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        decision_id: str,
        decided_at: datetime,
        route: str,
        served: bool,
        subject_id: str,
        features: Mapping[str, Any],
        request_sha256: str,
        client: str | None = None,
        environment: str | None = None,
    ) -> LoggedDecision:
        return cls(
            decision_id=decision_id,
            decided_at=decided_at,
            model_name=decision.model,
            version=decision.version,
            digest=decision.digest,
            route=route,
            served=served,
            subject_id=subject_id,
            features=dict(features),
            score=decision.score,
            decision=decision.decision,
            reasons=[r.as_dict() for r in decision.reasons],
            latency_ms=decision.latency_ms,
            fallback=decision.fallback,
            request_sha256=request_sha256,
            client=client,
            environment=environment,
        )


@dataclass(frozen=True)
class StoredDecision:
    """A logged decision as read back. ``features`` is None and ``erased`` True once the
    subject's key was deleted; ``flushed`` is False while it waits in the WAL backlog;
    ``client`` is None for a decision made before clients existed, or outside the HTTP API."""

    kind: ClassVar[str] = "riskops.decision-log/decision@1"

    decision_id: str
    decided_at: datetime
    model_name: str
    version: int
    digest: str
    route: str
    served: bool
    subject: str
    score: float | None
    decision: str
    reasons: list[dict[str, Any]]
    latency_ms: float
    fallback: bool
    request_sha256: str
    features: dict[str, Any] | None = field(repr=False)
    erased: bool
    flushed: bool
    batch_id: int | None
    client: str | None = None
    environment: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "decision_id": self.decision_id,
            "decided_at": self.decided_at.isoformat(),
            "model_name": self.model_name,
            "version": self.version,
            "digest": self.digest,
            "route": self.route,
            "served": self.served,
            "subject": self.subject,
            "score": self.score,
            "decision": self.decision,
            "reasons": self.reasons,
            "latency_ms": self.latency_ms,
            "fallback": self.fallback,
            "request_sha256": self.request_sha256,
            "features": self.features,
            "erased": self.erased,
            "flushed": self.flushed,
            "batch_id": self.batch_id,
            "client": self.client,
            "environment": self.environment,
        }


def decision_leaf(row: Mapping[str, Any]) -> str:
    """The digest (hex) of a stored decision row: SHA-256 of the canonical JSON of its
    :func:`leaf_fields` (see the module docstring)."""
    return hashlib.sha256(canonical_json(leaf_fields(row)).encode("utf-8")).hexdigest()


def leaf_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a stored decision row that its digest covers, as they are hashed."""
    decided_at = row["decided_at"]
    score = row["score"]
    nonce, ciphertext = row["features_nonce"], row["features_ciphertext"]
    fields = {
        "id": row["id"],
        "decided_at": decided_at if isinstance(decided_at, str) else format_time(decided_at),
        "model_name": row["model_name"],
        "version": int(row["version"]),
        "digest": row["digest"],
        "route": row["route"],
        "served": bool(row["served"]),
        "subject": row["subject"],
        "score": None if score is None else float(score),
        "decision": row["decision"],
        "reasons": row["reasons"],
        "latency_ms": float(row["latency_ms"]),
        "fallback": bool(row["fallback"]),
        "request_sha256": row["request_sha256"],
        "features_nonce": None if nonce is None else bytes(nonce).hex(),
        "features_ciphertext": None if ciphertext is None else bytes(ciphertext).hex(),
    }
    for name in OPTIONAL_LEAF_FIELDS:
        if row.get(name) is not None:
            fields[name] = row[name]
    return fields


def open_wal_features(cipher: AESGCM, entry: Mapping[str, Any]) -> dict[str, Any]:
    plain = cipher.decrypt(
        bytes.fromhex(entry["nonce"]),
        bytes.fromhex(entry["features"]),
        wal_aad(entry["id"], entry["subject"]),
    )
    features: dict[str, Any] = orjson.loads(plain)
    return features


# Anything but JSON's own types is refused (orjson would write a datetime or a dataclass).
STRICT_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def check_finite(features: Mapping[str, Any], reasons: Sequence[Mapping[str, Any]]) -> None:
    """orjson writes NaN and infinity as null; the log refuses them instead."""
    for name, value in features.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"feature {name!r} is {value}")
    for reason in reasons:
        for key, value in reason.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"reason {reason.get('code')!r} has {key}={value}")


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def new_nonces(n: int) -> bytes:
    """``n`` random nonces in one read of the system's generator: nonce i is the i-th slice of
    ``NONCE_BYTES`` (random 96-bit nonces, as for one, NIST SP 800-38D §8.2.2)."""
    return os.urandom(n * NONCE_BYTES)


def wal_aad(decision_id: str, subject: str) -> bytes:
    return f"{decision_id}|{subject}".encode()


_DECISION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_entry(entry: LoggedDecision) -> None:
    """InputError naming everything about ``entry`` that the store could not hold. An entry
    that passes costs one expression (the batch endpoint checks 1,000 per request); the
    problems are listed only for one that does not."""
    score, client, environment = entry.score, entry.client, entry.environment
    if (
        type(entry.decision_id) is str
        and _DECISION_ID.fullmatch(entry.decision_id) is not None
        and entry.decided_at.tzinfo is not None
        and entry.route in ROUTES
        and not (entry.route == "shadow" and entry.served)
        and 0 < len(entry.model_name) <= 100
        and len(entry.digest) <= 71
        and 0 < len(entry.decision) <= 10
        and type(entry.request_sha256) is str
        and _SHA256_HEX.fullmatch(entry.request_sha256) is not None
        and (score is None or math.isfinite(score))
        and math.isfinite(entry.latency_ms)
        and (client is None or 0 < len(client) <= 100)
        and (environment is None or 0 < len(environment) <= 40)
    ):
        return
    _refuse(entry)


def _refuse(entry: LoggedDecision) -> None:
    problems = []
    try:
        if str(uuid.UUID(entry.decision_id)) != entry.decision_id:
            problems.append("decision_id must be a lowercase hyphenated UUID")
    except (ValueError, AttributeError, TypeError):
        problems.append("decision_id must be a UUID")
    if entry.decided_at.tzinfo is None:
        problems.append("decided_at must be timezone-aware")
    if entry.route not in ROUTES:
        problems.append(f"route must be one of {', '.join(ROUTES)}")
    if entry.route == "shadow" and entry.served:
        problems.append("a shadow decision is never served")
    if not 0 < len(entry.model_name) <= 100:
        problems.append("model_name must have 1 to 100 characters")
    if len(entry.digest) > 71 or not 0 < len(entry.decision) <= 10:
        problems.append("digest must have ≤ 71 characters and decision 1 to 10")
    if len(entry.request_sha256) != 64 or entry.request_sha256.strip("0123456789abcdef"):
        problems.append("request_sha256 must be 64 lowercase hex digits")
    if entry.score is not None and not math.isfinite(entry.score):
        problems.append("score must be finite or None")
    if not math.isfinite(entry.latency_ms):
        problems.append("latency_ms must be finite")
    if entry.client is not None and not 0 < len(entry.client) <= 100:
        problems.append("client must have 1 to 100 characters, or be None")
    if entry.environment is not None and not 0 < len(entry.environment) <= 40:
        problems.append("environment must have 1 to 40 characters, or be None")
    if problems:
        raise InputError(
            f"Decision {entry.decision_id!r} cannot be logged: {'; '.join(problems)}.",
            hint="Build it with LoggedDecision.from_decision(scorer's decision, ...).",
        )
