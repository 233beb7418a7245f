"""The lifecycle state machine of a model version.

::

    candidate ──gates pass──▶ validated ──validator + risk officer sign-off──▶ approved
        └──────gates fail───▶ rejected                                         │
                                                          retired ◀──retire────┘

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
    State.REJECTED: frozenset(),
    State.RETIRED: frozenset(),
}


def move(record: ModelVersionRecord, target: State) -> State:
    """Move ``record`` to ``target`` or raise ConflictError naming what is allowed."""
    current = State(record.state)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing"
        raise ConflictError(
            f"{record.model_name}@{record.version} is '{current}'; it cannot become '{target}' "
            f"(from '{current}' it can become: {allowed}).",
            model_ref=f"{record.model_name}@{record.version}",
        )
    record.state = target.value
    return current
