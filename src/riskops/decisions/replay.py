"""Replaying a logged decision: the exact model version, the request's own features, the same
scorer, and whether the answer comes out the same (EU AI Act Art. 12 traceability; SR 26-2
outcomes analysis).

A replay, in order::

    stored   = the decisions row, its features decrypted with the subject's key
               (ConflictError once the key was erased: GDPR Art. 17 made them unreadable)
    version  = model_versions row of stored.model@stored.version; its digest must be the one
               the decision recorded (IntegrityError otherwise)
    model    = load_verified_model(name, version, digest=stored.digest)   # IntegrityError if the
               artifact in the registry no longer hashes to that digest
    spec     = parse_spec(version.spec_yaml)                               # the version's own spec
    replayed = Scorer(spec, model).decide(features, explain=True)
    compare  score: exact (bit for bit) | within 1e-12 | differs
             decision: equal or not
             reasons: the same codes and texts in the same order, contributions within 1e-12
             (not compared for an approval that was answered without reasons)

The replay is recorded in the audit chain as ``decision.replayed`` with its outcome. Only an
auditor, validator, risk officer or operator may replay: it decrypts a subject's personal data.

Unknown categories are scored as missing in a replay: a request the server accepted under its
``reject`` policy had none, and one accepted under ``missing`` was scored exactly that way.

Example::

    result = replay_decision(ctx, "0b7c…", actor="audrey")
    result.matches, result.score_match, result.differences
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from sqlalchemy import select

from riskops.audit.trail import record
from riskops.config import Role
from riskops.context import Context
from riskops.decisions.reading import read_stored
from riskops.decisions.records import StoredDecision
from riskops.errors import ConflictError, IntegrityError, NotFoundError
from riskops.governance.roles import require_actor, require_role
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys
from riskops.registry.artifacts import load_verified_model
from riskops.scoring.scorer import Decision, Scorer
from riskops.spec import parse_spec
from riskops.store.tables import ModelVersionRecord

REPLAY_ACTION = "decision.replayed"
REPLAY_ROLES = (Role.AUDITOR, Role.VALIDATOR, Role.RISK_OFFICER, Role.OPERATOR)
SCORE_TOLERANCE = 1e-12

ScoreMatch = Literal["exact", "within-tolerance", "differs"]


def stored_decision(ctx: Context, decision_id: str) -> StoredDecision:
    """A decision from the store, its features decrypted while the subject's key exists;
    NotFoundError if the store has no decision with that id."""
    keys = SubjectKeys(ctx.store, bind_secrets(ctx.settings, ctx.store), ctx.clock)
    found = read_stored(ctx.store, keys, decision_id.strip())
    if found is None:
        raise NotFoundError(
            f"No decision with id {decision_id!r} in the store.",
            hint="Use the decision_id the scoring API returned. A decision made in the last "
            "moments may still wait in a running server's backlog: GET /v1/decisions/<id> "
            "on that server shows it.",
        )
    return found


@dataclass(frozen=True)
class Replay:
    """The stored and the recomputed answer of one decision, and how they compare.

    ``score_match`` is ``exact`` when the two floats are equal bit for bit, ``within-tolerance``
    when they differ by at most 1e-12 (``score_note`` says why that can happen), else
    ``differs``. ``reasons_compared`` is False for an approval answered without reasons.
    """

    kind: ClassVar[str] = "riskops.decision/replay@1"

    decision_id: str
    model_name: str
    version: int
    digest: str
    actor: str
    stored_score: float
    replayed_score: float | None
    score_match: ScoreMatch
    score_note: str | None
    stored_decision: str
    replayed_decision: str
    stored_reasons: tuple[dict[str, Any], ...]
    replayed_reasons: tuple[dict[str, Any], ...]
    reasons_compared: bool
    differences: tuple[str, ...]

    @property
    def model_ref(self) -> str:
        return f"{self.model_name}@{self.version}"

    @property
    def decision_match(self) -> bool:
        return self.stored_decision == self.replayed_decision

    @property
    def reasons_match(self) -> bool:
        return not any(d.startswith("reason") for d in self.differences)

    @property
    def matches(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "decision_id": self.decision_id,
            "model": self.model_name,
            "version": self.version,
            "digest": self.digest,
            "actor": self.actor,
            "matches": self.matches,
            "score": {
                "stored": self.stored_score,
                "replayed": self.replayed_score,
                "match": self.score_match,
                "note": self.score_note,
            },
            "decision": {
                "stored": self.stored_decision,
                "replayed": self.replayed_decision,
                "match": self.decision_match,
            },
            "reasons": {
                "stored": list(self.stored_reasons),
                "replayed": list(self.replayed_reasons),
                "compared": self.reasons_compared,
                "match": self.reasons_match,
            },
            "differences": list(self.differences),
        }


def replay_decision(ctx: Context, decision_id: str, *, actor: str | None) -> Replay:
    """Recompute a logged decision with the exact model version it names and compare.

    NotFoundError for an unknown id; ConflictError when the features were erased or the
    decision was the model-unavailable fallback; IntegrityError when the artifact or the
    version's recorded digest is not the one the decision was made with.
    """
    who = require_actor(actor)
    role = require_role(
        ctx.settings, who, *REPLAY_ROLES, doing="replay a decision (it decrypts personal data)"
    )
    stored = stored_decision(ctx, decision_id)
    ref = f"{stored.model_name}@{stored.version}"
    if stored.features is None:
        raise ConflictError(
            f"The features of decision {stored.decision_id} were erased (the subject's key was "
            "deleted under GDPR Art. 17), so it cannot be replayed.",
            hint=f"Its score, decision and reasons are still on record: riskops decisions show "
            f"{stored.decision_id}",
        )
    if stored.fallback or stored.score is None:
        raise ConflictError(
            f"Decision {stored.decision_id} was the safe fallback ({stored.decision}, model "
            f"unavailable): {ref} gave no score, so there is nothing to recompute.",
            hint=f"Show what was recorded: riskops decisions show {stored.decision_id}",
        )
    with ctx.store.reading() as session:
        version = session.execute(
            select(ModelVersionRecord).where(
                ModelVersionRecord.model_name == stored.model_name,
                ModelVersionRecord.version == stored.version,
            )
        ).scalar_one_or_none()
        if version is None:
            raise NotFoundError(
                f"Decision {stored.decision_id} names {ref}, which is not in the store.",
                hint="riskops models lists the registered versions.",
            )
        registered, flavor, spec_yaml = version.digest, version.flavor, version.spec_yaml
    if registered != stored.digest:
        raise IntegrityError(
            f"Decision {stored.decision_id} was made by {ref} with digest {stored.digest}, but "
            f"the store records {registered} for that version; refusing to replay.",
            hint="The store's version record was altered: run riskops audit verify and report "
            "this as a security incident.",
        )
    model = load_verified_model(
        ctx.registry, stored.model_name, stored.version, digest=stored.digest, flavor=flavor
    )
    spec = parse_spec(spec_yaml, source=ref).spec
    scorer = Scorer(
        spec, model, version=stored.version, digest=stored.digest, unknown_category="missing"
    )
    replayed = scorer.decide(stored.features, explain=True)
    result = _compare(stored, replayed, stored.score, who, scorer.policy.favourable)
    now = ctx.clock()
    with ctx.store.transaction() as session:
        record(
            session,
            actor=who,
            role=role.value,
            action=REPLAY_ACTION,
            object_type="decision",
            object_id=stored.decision_id,
            payload={
                "model": ref,
                "digest": stored.digest,
                "matches": result.matches,
                "score_match": result.score_match,
                "decision_match": result.decision_match,
                "reasons_match": result.reasons_match,
                "differences": list(result.differences),
            },
            at=now,
        )
    return result


def _compare(
    stored: StoredDecision, replayed: Decision, score: float, actor: str, favourable: str
) -> Replay:
    differences: list[str] = []
    again = replayed.score
    note = None
    if again is None:
        match: ScoreMatch = "differs"
        differences.append(f"score: the model did not answer on replay ({replayed.cause})")
    elif again == score:
        match = "exact"
    elif abs(again - score) <= SCORE_TOLERANCE:
        match = "within-tolerance"
        note = (
            f"|difference| {abs(again - score):.3g} ≤ {SCORE_TOLERANCE:g}: the same model and "
            "inputs, with the trees' outputs summed in another floating-point order (a batch "
            "request is scored as a matrix, the replay as one row)"
        )
    else:
        match = "differs"
        differences.append(f"score: stored {score!r}, replayed {again!r}")
    if replayed.decision != stored.decision:
        differences.append(f"decision: stored {stored.decision}, replayed {replayed.decision}")
    again_reasons = tuple(r.as_dict() for r in replayed.reasons)
    compared = bool(stored.reasons) or stored.decision != favourable
    if compared:
        differences.extend(_reason_differences(stored.reasons, again_reasons))
    return Replay(
        decision_id=stored.decision_id,
        model_name=stored.model_name,
        version=stored.version,
        digest=stored.digest,
        actor=actor,
        stored_score=score,
        replayed_score=again,
        score_match=match,
        score_note=note,
        stored_decision=stored.decision,
        replayed_decision=replayed.decision,
        stored_reasons=tuple(stored.reasons),
        replayed_reasons=again_reasons,
        reasons_compared=compared,
        differences=tuple(differences),
    )


def _reason_differences(
    stored: list[dict[str, Any]], replayed: tuple[dict[str, Any], ...]
) -> list[str]:
    was = [r.get("code") for r in stored]
    now = [r["code"] for r in replayed]
    if was != now:
        return [f"reasons: stored codes {was}, replayed {now}"]
    found = []
    for before, after in zip(stored, replayed, strict=True):
        code = after["code"]
        if before.get("text") != after["text"]:
            found.append(
                f"reason {code}: stored text {before.get('text')!r}, now {after['text']!r}"
            )
        a, b = before.get("contribution"), after["contribution"]
        if a is None or b is None or abs(float(a) - float(b)) > SCORE_TOLERANCE:
            found.append(f"reason {code}: stored contribution {a!r}, replayed {b!r}")
        if before.get("value") != after["value"]:
            found.append(
                f"reason {code}: stored value {before.get('value')!r}, now {after['value']!r}"
            )
    return found
