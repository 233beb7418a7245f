"""Lifecycle rows tied to the audit events that made them.

Every service that changes a version's lifecycle writes a row and an audit event in one
transaction. The chain protects the events; this module extends that protection to the rows by
checking, field by field, that each row says what its event recorded, and that each event still
has its row. An ``UPDATE approvals SET actor = 'mallory'`` or a deleted deployment row is named,
even though the tables themselves carry no hash.

Tied, per table (times are not: the event carries the database's or the chain's clock, the
row the application's):

========================  ==========================================  ========================
table                     event(s)                                    fields tied
========================  ==========================================  ========================
``approvals``             ``version.signed_off``, ``version.approved``, model, version, actor,
                          ``version.rejected``                        role, decision, note,
                                                                      findings, conditions
``deployments``           ``deployment.deployed``,                    model, version,
                          ``deployment.rolled_back``                  environment, action,
                                                                      previous_version, actor,
                                                                      reason, mode, share
``gate_overrides``        ``gate.overridden``                         model, version, gate,
                                                                      validation run, actor,
                                                                      justification
``model_versions``        ``version.registered`` and the state        model, version, digest,
                          events (their ``state``)                    data fingerprint, code
                                                                      commit and dirty flag,
                                                                      spec hash (and the spec
                                                                      text against it), MLflow
                                                                      run, params, metrics,
                                                                      trained_by, state; new
                                                                      events also: trainer hash,
                                                                      code diff hash, data rows,
                                                                      flavor, artifact URI
``validation_runs``       ``validation.completed``                    run id, model, version,
                                                                      run_by, passed, champion
``gate_results``          ``validation.completed`` (``gates``)        which gates ran, value,
                                                                      passed; new events also
                                                                      metric, threshold,
                                                                      comparison, severity, kind
``api_keys``              ``api_key.created``, ``api_key.revoked``    prefix, name, client,
                                                                      scopes, created_by,
                                                                      revoked_at; new events
                                                                      also the key's SHA-256
========================  ==========================================  ========================

Not tied, because no event carries them: ``deployments`` has no role column (the event's role
is not compared); ``model_versions.data_source``, ``spec_path``, ``packages`` and
``updated_at``; ``gate_results.evidence``; ``gate_overrides`` keeps no metric or threshold of its
own (the event's copy is not compared with ``gate_results``). Events recorded before a field was
added to their payload are checked on the fields they carry: a field absent from an old payload
is skipped, not failed.

One query per table and one pass over the lifecycle events (selected by action, so decision
batch seals and monitoring runs are never read); rows and events are paired through a hash
index, so the work is linear in their number.

Example::

    with store.reading() as session:
        for p in lifecycle_problems(session):
            print(f"{p.table} {p.row}: {p.reason}")
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.audit.trail import format_time
from riskops.store.tables import (
    ApiKeyRecord,
    ApprovalRecord,
    AuditEventRecord,
    DeploymentRecord,
    GateOverrideRecord,
    GateResultRecord,
    ModelVersionRecord,
    ValidationRunRecord,
    table_of,
)

SIGN_OFF_ACTIONS = ("version.signed_off", "version.approved", "version.rejected")
DEPLOYMENT_ACTIONS = {"deployment.deployed": "deploy", "deployment.rolled_back": "rollback"}
REGISTERED = "version.registered"
VALIDATED = "validation.completed"
OVERRIDDEN = "gate.overridden"
KEY_CREATED = "api_key.created"
KEY_REVOKED = "api_key.revoked"
# Events whose payload's "state" is the state the version was left in.
STATE_ACTIONS = (*SIGN_OFF_ACTIONS, VALIDATED, OVERRIDDEN)
ACTIONS = (
    *SIGN_OFF_ACTIONS,
    *DEPLOYMENT_ACTIONS,
    REGISTERED,
    VALIDATED,
    OVERRIDDEN,
    KEY_CREATED,
    KEY_REVOKED,
)


@dataclass(frozen=True)
class LifecycleProblem:
    """A lifecycle row that disagrees with its audit event, or one of the two missing.

    ``row`` names the row (``id 3``, ``credit-scoring@2``, ``key 1a2b…``), or for a missing row
    what it would have been about; ``seq`` is the event's sequence number, None for a row that
    has no event.
    """

    table: str
    row: str
    seq: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "row": self.row, "seq": self.seq, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    occurred_at: str
    actor: str
    role: str
    action: str
    object_id: str
    payload: dict[str, Any]

    @property
    def model(self) -> tuple[str, int | None]:
        name, _, version = self.object_id.rpartition("@")
        return (name, int(version)) if version.isdigit() else (self.object_id, None)


@dataclass(slots=True)
class _Side:
    """One row or one event reduced to the fields both sides name, with how to show it."""

    group: Any
    label: str
    seq: int | None
    fields: dict[str, Any]
    order: int = 0
    matched: bool = False


def lifecycle_problems(session: Session) -> list[LifecycleProblem]:
    """Every disagreement between the lifecycle tables and the audit events, in table order.

    An untouched store has none.
    """
    events = _lifecycle_events(session)
    by_action: dict[str, list[_Event]] = defaultdict(list)
    for event in events:
        by_action[event.action].append(event)
    problems: list[LifecycleProblem] = []
    problems += _approvals(session, [e for a in SIGN_OFF_ACTIONS for e in by_action[a]])
    problems += _deployments(session, [e for a in DEPLOYMENT_ACTIONS for e in by_action[a]])
    problems += _overrides(session, by_action[OVERRIDDEN])
    problems += _versions(session, by_action[REGISTERED], [e for e in events if _sets_state(e)])
    problems += _validation(session, by_action[VALIDATED])
    problems += _api_keys(session, by_action[KEY_CREATED], by_action[KEY_REVOKED])
    return problems


def _lifecycle_events(session: Session) -> list[_Event]:
    t = table_of(AuditEventRecord)
    query = (
        select(t.c.seq, t.c.occurred_at, t.c.actor, t.c.role, t.c.action, t.c.object_id)
        .add_columns(t.c.payload)
        .where(t.c.action.in_(ACTIONS))
        .order_by(t.c.seq)
    )
    return [
        _Event(seq, at, actor, role, action, object_id, _payload(text))
        for seq, at, actor, role, action, object_id, text in session.execute(query)
    ]


def _payload(text: str) -> dict[str, Any]:
    # A payload that is not a JSON object was not written by riskops; the chain check names
    # the event whose content changed, so here it only carries nothing to compare.
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _sets_state(event: _Event) -> bool:
    return event.action in STATE_ACTIONS and "state" in event.payload


def _carried(payload: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The payload's fields among ``names`` that it carries (old events carry fewer)."""
    return {name: payload[name] for name in names if name in payload}


def _approvals(session: Session, events: list[_Event]) -> list[LifecycleProblem]:
    rows = [
        _Side(
            r.model_name,
            f"id {r.id}",
            None,
            {
                "version": r.version,
                "actor": r.actor,
                "role": r.role,
                "decision": r.decision,
                "note": r.note,
                "findings": r.findings,
                "conditions": r.conditions,
                "time": _time(r.created_at),
            },
        )
        for r in _all(session, ApprovalRecord, ApprovalRecord.id)
    ]
    sides = [
        _Side(
            e.model[0],
            e.object_id,
            e.seq,
            {
                "version": e.model[1],
                "actor": e.actor,
                "role": e.role,
                "time": e.occurred_at,
                **_carried(e.payload, ("decision", "note", "findings", "conditions")),
            },
        )
        for e in events
    ]
    return _pair("approvals", rows, sides)


def _deployments(session: Session, events: list[_Event]) -> list[LifecycleProblem]:
    rows = [
        _Side(
            r.model_name,
            f"id {r.id}",
            None,
            {
                "version": r.version,
                "environment": r.environment,
                "action": r.action,
                "previous_version": r.previous_version,
                "actor": r.actor,
                "reason": r.reason,
                "mode": r.mode,
                "share": r.share,
                "time": _time(r.created_at),
            },
        )
        for r in _all(session, DeploymentRecord, DeploymentRecord.id)
    ]
    names = ("environment", "previous_version", "reason", "mode", "share")
    sides = [
        _Side(
            e.model[0],
            e.object_id,
            e.seq,
            {
                "version": e.model[1],
                "action": DEPLOYMENT_ACTIONS[e.action],
                "actor": e.actor,
                "time": e.occurred_at,
                **_carried(e.payload, names),
            },
        )
        for e in events
    ]
    return _pair("deployments", rows, sides)


def _overrides(session: Session, events: list[_Event]) -> list[LifecycleProblem]:
    rows = [
        _Side(
            r.model_name,
            f"id {r.id}",
            None,
            {
                "version": r.version,
                "gate": r.gate,
                "validation_run_id": r.validation_run_id,
                "actor": r.actor,
                "justification": r.justification,
                "time": _time(r.created_at),
            },
        )
        for r in _all(session, GateOverrideRecord, GateOverrideRecord.id)
    ]
    sides = [
        _Side(
            e.model[0],
            e.object_id,
            e.seq,
            {
                "version": e.model[1],
                "actor": e.actor,
                "time": e.occurred_at,
                **_carried(e.payload, ("gate", "validation_run_id", "justification")),
            },
        )
        for e in events
    ]
    return _pair("gate_overrides", rows, sides)


# version.registered payload key -> model_versions column, where the names differ.
_REGISTERED_FIELDS = {
    "digest": "digest",
    "data_fingerprint": "data_fingerprint",
    "code_commit": "code_commit",
    "code_dirty": "code_dirty",
    "code_diff_sha256": "code_diff_sha256",
    "trainer_sha256": "trainer_sha256",
    "spec_sha256": "spec_sha256",
    "mlflow_run_id": "mlflow_run_id",
    "params": "params",
    "metrics": "metrics",
    "data_rows": "data_rows",
    "flavor": "flavor",
    "artifact_uri": "artifact_uri",
}


def _versions(
    session: Session, registered: list[_Event], state_events: list[_Event]
) -> list[LifecycleProblem]:
    last_state: dict[tuple[str, int | None], tuple[int, str]] = {
        e.model: (e.seq, "candidate") for e in registered
    }
    for e in state_events:  # in chain order: the last one wins
        last_state[e.model] = (e.seq, str(e.payload["state"]))
    problems: list[LifecycleProblem] = []
    rows = []
    for r in _all(session, ModelVersionRecord, ModelVersionRecord.id):
        ref = f"{r.model_name}@{r.version}"
        values = {column: getattr(r, column) for column in _REGISTERED_FIELDS.values()}
        rows.append(
            _Side(
                ref,
                ref,
                None,
                {**values, "trained_by": r.trained_by, "time": _time(r.created_at)},
            )
        )
        spec_hash = "sha256:" + hashlib.sha256(r.spec_yaml.encode()).hexdigest()
        if spec_hash != r.spec_sha256:
            problems.append(
                LifecycleProblem(
                    "model_versions",
                    ref,
                    None,
                    f"the stored spec text of {ref} no longer hashes to its spec_sha256 "
                    f"{r.spec_sha256}: the spec was edited after training",
                )
            )
        seq_state = last_state.get((r.model_name, r.version))
        if seq_state is not None and seq_state[1] != r.state:
            seq, state = seq_state
            problems.append(
                LifecycleProblem(
                    "model_versions",
                    ref,
                    seq,
                    f"{ref} is '{r.state}' in model_versions, but the last event that changed "
                    f"its state (event {seq}) left it '{state}'",
                )
            )
    sides = [
        _Side(
            e.object_id,
            e.object_id,
            e.seq,
            {
                "trained_by": e.actor,
                "time": e.occurred_at,
                **{
                    column: e.payload[key]
                    for key, column in _REGISTERED_FIELDS.items()
                    if key in e.payload
                },
            },
        )
        for e in registered
    ]
    return _pair("model_versions", rows, sides) + problems


def _validation(session: Session, events: list[_Event]) -> list[LifecycleProblem]:
    runs = [
        _Side(
            r.id,
            f"id {r.id}",
            None,
            {
                "model": f"{r.model_name}@{r.version}",
                "run_by": r.run_by,
                "passed": r.passed,
                "champion": (
                    f"{r.model_name}@{r.champion_version}"
                    if r.champion_version is not None
                    else None
                ),
                "time": _time(r.created_at),
            },
        )
        for r in _all(session, ValidationRunRecord, ValidationRunRecord.id)
    ]
    sides = []
    gate_sides = []
    for e in events:
        run_id = e.payload.get("validation_run_id")
        sides.append(
            _Side(
                run_id,
                e.object_id,
                e.seq,
                {
                    "model": e.object_id,
                    "run_by": e.actor,
                    "time": e.occurred_at,
                    **_carried(e.payload, ("passed", "champion")),
                },
            )
        )
        gates = e.payload.get("gates")
        if isinstance(gates, dict):
            for gate, figures in gates.items():
                carried = _carried(figures, _GATE_FIELDS) if isinstance(figures, dict) else {}
                gate_sides.append(
                    _Side((run_id, gate), f"run {run_id} gate {gate}", e.seq, carried)
                )
    results = [
        _Side(
            (r.validation_run_id, r.gate),
            f"id {r.id} (run {r.validation_run_id} gate {r.gate})",
            None,
            {name: getattr(r, name) for name in _GATE_FIELDS},
        )
        for r in _all(session, GateResultRecord, GateResultRecord.id)
    ]
    # A run whose event names no gates (none recorded) ties no gate rows.
    runs_with_gates = {e.payload.get("validation_run_id") for e in events if "gates" in e.payload}
    results = [r for r in results if r.group[0] in runs_with_gates]
    return _pair("validation_runs", runs, sides) + _pair("gate_results", results, gate_sides)


_GATE_FIELDS = ("value", "passed", "metric", "threshold", "comparison", "severity", "kind")


def _api_keys(
    session: Session, created: list[_Event], revoked: list[_Event]
) -> list[LifecycleProblem]:
    revoked_at = {e.object_id: e for e in revoked}
    rows = []
    problems: list[LifecycleProblem] = []
    for r in _all(session, ApiKeyRecord, ApiKeyRecord.id):
        rows.append(
            _Side(
                r.prefix,
                f"key {r.prefix}",
                None,
                {
                    "name": r.name,
                    "client": r.client,
                    "scopes": r.scopes,
                    "created_by": r.created_by,
                    "key_sha256": r.key_sha256,
                    "time": _time(r.created_at),
                },
            )
        )
        event = revoked_at.pop(r.prefix, None)
        when = _time(r.revoked_at) if r.revoked_at is not None else None
        if event is None and when is not None:
            reason = f"the key {r.prefix} ({r.name}) is marked revoked at {when}, but no api_key.revoked event recorded it"
        elif event is not None and when is None:
            reason = (
                f"event {event.seq} revoked the key {r.prefix} ({r.name}) at "
                f"{event.occurred_at}, but the row says "
                + (f"revoked at {when}" if when else "it is not revoked: it was reinstated")
            )
        else:
            continue
        problems.append(
            LifecycleProblem("api_keys", f"key {r.prefix}", event.seq if event else None, reason)
        )
    for event in revoked_at.values():
        problems.append(
            LifecycleProblem(
                "api_keys",
                f"key {event.object_id}",
                event.seq,
                f"event {event.seq} ({event.action}) revoked the key {event.object_id}, "
                "which has no api_keys row",
            )
        )
    sides = [
        _Side(
            e.object_id,
            e.object_id,
            e.seq,
            {
                "created_by": e.actor,
                "time": e.occurred_at,
                **_carried(e.payload, ("name", "client", "scopes", "key_sha256")),
            },
        )
        for e in created
    ]
    return _pair("api_keys", rows, sides) + problems


def _pair(table: str, rows: list[_Side], events: list[_Side]) -> list[LifecycleProblem]:
    """Match each event to a row with equal fields; what is left is paired in order within its
    group (and each differing field named), or reported as a row without event or an event
    without row."""
    for i, row in enumerate(rows):
        row.order = i
    # Times are not tied: on PostgreSQL the database stamps an event with its own clock, the
    # row carries the application's, and a writer's time is moved up to its predecessor's.
    for side in (*rows, *events):
        side.fields.pop("time", None)
    indexes: dict[tuple[str, ...], dict[Any, deque[_Side]]] = {}
    leftover_events: dict[Any, list[_Side]] = defaultdict(list)
    for event in events:
        names = tuple(sorted(event.fields))
        index = indexes.get(names)
        if index is None:
            index = defaultdict(deque)
            for row in rows:
                index[_fingerprint(row.group, row.fields, names)].append(row)
            indexes[names] = index
        candidates = index.get(_fingerprint(event.group, event.fields, names))
        while candidates and candidates[0].matched:
            candidates.popleft()
        if candidates:
            candidates.popleft().matched = True
        else:
            leftover_events[_group_key(event.group)].append(event)
    leftover_rows: dict[Any, list[_Side]] = defaultdict(list)
    for row in rows:
        if not row.matched:
            leftover_rows[_group_key(row.group)].append(row)
    problems: list[LifecycleProblem] = []
    for group in list(leftover_events) + [g for g in leftover_rows if g not in leftover_events]:
        evs, rws = leftover_events.get(group, []), leftover_rows.get(group, [])
        for event, row in zip(evs, rws, strict=False):
            problems.append(_differs(table, row, event))
        for event in evs[len(rws) :]:
            problems.append(
                LifecycleProblem(
                    table,
                    event.label,
                    event.seq,
                    f"event {event.seq} recorded a change to {event.label} "
                    f"({_show(event.fields)}), but {table} has no row for it: it was deleted",
                )
            )
        for row in rws[len(evs) :]:
            problems.append(
                LifecycleProblem(
                    table,
                    row.label,
                    None,
                    f"{table} row {row.label} ({_show(row.fields)}) has no audit event: it was "
                    "written outside riskops",
                )
            )
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return problems


def _differs(table: str, row: _Side, event: _Side) -> LifecycleProblem:
    diffs = [
        f"{name} is {_value(row.fields.get(name))} where event {event.seq} recorded {_value(value)}"
        for name, value in event.fields.items()
        if _canonical(row.fields.get(name)) != _canonical(value)
    ]
    if not diffs:
        diffs = [f"it belongs to {row.group} where event {event.seq} is about {event.group}"]
    return LifecycleProblem(
        table, row.label, event.seq, f"{table} row {row.label} was altered: {'; '.join(diffs)}"
    )


def _group_key(group: Any) -> Any:
    # A validation run's gate pairs in order within its run; other tables within their model.
    return group[0] if isinstance(group, tuple) else group


def _fingerprint(group: Any, fields: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return (_hashable(group), *(_hashable(fields.get(name)) for name in names))


def _hashable(value: Any) -> Any:
    """What :func:`_canonical` compares, made cheap for the common scalars: this runs once
    per field of every row and event."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or kind is float:
        return float(value)
    if kind is bool:
        return ("bool", value)  # True == 1 == 1.0 as keys: keep booleans apart
    if kind is list or kind is tuple:
        return ("list", *(_hashable(v) for v in value))
    if kind is dict:
        return ("dict", *sorted((str(k), _hashable(v)) for k, v in value.items()))
    return ("text", str(value))


def _canonical(value: Any) -> str:
    """A comparable text of a value: numbers compare as numbers (1 == 1.0), JSON otherwise."""
    return json.dumps(_numbers(value), sort_keys=True, separators=(",", ":"))


def _numbers(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers(v) for v in value]
    return str(value)


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _show(fields: Mapping[str, Any]) -> str:
    keys = [k for k in ("version", "actor", "environment", "gate", "name", "time") if k in fields]
    return ", ".join(f"{k} {_value(fields[k])}" for k in keys)


def _time(moment: datetime) -> str:
    return format_time(moment)


def _all(session: Session, record: Any, order: Any) -> list[Any]:
    # Plain rows, not ORM objects: a third of the time on large tables, and nothing here
    # writes back.
    return list(session.execute(select(*table_of(record).c).order_by(order)))
