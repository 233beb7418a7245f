"""The lifecycle state machine of a model version.

::

    candidate ──gates pass──▶ validated ──validator + risk officer sign-off──▶ approved
        │                      │    ▲                                            │
        │        person rejects│    │risk officer overrides every                │ retire
        │                      ▼    │failed blocking gate                        ▼
        └──────gates fail───▶ rejected                                        retired

``rejected → validated`` is reachable only through a gate override
(``riskops.governance.overrides``), never by a plain move; a version a person rejected stays
rejected.

Which version serves in an environment is not a state of the version but the newest record of
the deployment history (``riskops.governance.deployments``), so "production" is derived.
"""

from __future__ import annotations

from enum import StrEnum

from riskops.errors import ConflictError
from riskops.store.tables import ModelVersionRecord


class State(StrEnum):
    CANDIDATE = "candidate"
    VALIDATED = "validated"
    REJECTED = "rejected"
    APPROVED = "approved"
    RETIRED = "retired"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.CANDIDATE: frozenset({State.VALIDATED, State.REJECTED}),
    State.VALIDATED: frozenset({State.APPROVED, State.REJECTED}),
    State.APPROVED: frozenset({State.RETIRED}),
    State.REJECTED: frozenset({State.VALIDATED}),
    State.RETIRED: frozenset(),
}

# Transitions that only a recorded gate override may take.
OVERRIDE_ONLY: frozenset[tuple[State, State]] = frozenset({(State.REJECTED, State.VALIDATED)})


def move(record: ModelVersionRecord, target: State, *, by_override: bool = False) -> State:
    """Move ``record`` to ``target`` or raise ConflictError naming what is allowed.

    ``by_override`` is passed only by the gate-override service, the one way out of
    ``rejected``.
    """
    current = State(record.state)
    if (current, target) in OVERRIDE_ONLY and not by_override:
        ref = f"{record.model_name}@{record.version}"
        raise ConflictError(
            f"{ref} is '{current}'; it becomes '{target}' only when a risk officer overrides "
            "every failed blocking gate.",
            model_ref=ref,
            hint=f"riskops override {ref} --gate GATE --justification TEXT --as <risk officer>",
        )
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing"
        raise ConflictError(
            f"{record.model_name}@{record.version} is '{current}'; it cannot become '{target}' "
            f"(from '{current}' it can become: {allowed}).",
            model_ref=f"{record.model_name}@{record.version}",
        )
    record.state = target.value
    return current
