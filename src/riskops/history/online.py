"""History features at decision time: the request's transaction is looked up in the online
store, its features computed by the spec's definitions, and the transaction appended after the
decision. No pandas: this is on the scoring hot path.

A request for a model with ``history`` carries, among its ``features``, the transaction: its
id (``history.event_id``), time (``history.time_column``, ISO 8601 text), amount
(``history.amount_column``, a number) and each entity's key (``history.entities``; a string or
an integer). The id, time and entity keys are taken out; the history features are added; the
model's own features (the amount among them when it is one) pass through unchanged::

    lookup = HistoryLookup(spec, store)
    features, transaction = lookup.enrich(request_features)   # ProblemsError naming fields
    decision = scorer.decide(features)
    lookup.record(transaction)                                # after the decision
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from riskops.errors import NotFoundError, Problem, ProblemsError
from riskops.history.definitions import HistoryDefinitions, parse_time
from riskops.history.store import Event, OnlineStore
from riskops.spec import ModelSpec

MAX_KEY = 200  # characters of an id or entity key


@dataclass(frozen=True)
class Transaction:
    """The transaction a request carries, as the store keeps it."""

    event_id: str
    time_us: int
    units: int
    keys: Mapping[str, str]

    def event(self, label: bool | None = None) -> Event:
        return Event(self.event_id, self.time_us, self.units, dict(self.keys), label)


class HistoryLookup:
    """One model version's history features over ``store``, under the model's name."""

    def __init__(self, spec: ModelSpec, store: OnlineStore) -> None:
        if spec.history is None:
            raise ValueError(f"the spec of {spec.name!r} declares no history")
        self.namespace = spec.name
        self.store = store
        self.definitions = HistoryDefinitions.of(spec.history)
        history = spec.history
        self._history = history
        self._model_features = frozenset(spec.feature_names)
        # Request fields that identify the transaction and are not model inputs.
        self._strip = frozenset(
            c
            for c in (history.event_id, history.time_column, *history.entities.values())
            if c not in self._model_features
        ) | ({history.amount_column} - self._model_features)
        self._computed = frozenset(self.definitions.names)

    def transaction(self, features: Mapping[str, object]) -> Transaction:
        """The transaction in a request's features; ProblemsError naming each bad field."""
        history = self._history
        problems: list[Problem] = []
        event_id = _key(features, history.event_id, "the transaction id", problems)
        keys: dict[str, str] = {
            entity: _key(features, column, f"the {entity} key", problems)
            for entity, column in history.entities.items()
        }
        time_us = 0
        when = features.get(history.time_column)
        if when is None:
            problems.append(
                Problem(history.time_column, "is required: the transaction's time", "missing")
            )
        elif type(when) is not str:
            problems.append(
                Problem(
                    history.time_column,
                    "must be ISO 8601 text such as '2018-04-01 00:00:31', not a "
                    f"{type(when).__name__}",
                    "wrong_type",
                )
            )
        else:
            try:
                time_us = parse_time(when)
            except (ValueError, OverflowError):
                problems.append(
                    Problem(
                        history.time_column,
                        f"{when[:80]!r} is not an ISO 8601 time such as '2018-04-01 00:00:31'",
                        "invalid",
                    )
                )
        units = 0
        amount = features.get(history.amount_column)
        if amount is None:
            problems.append(
                Problem(history.amount_column, "is required: the transaction's amount", "missing")
            )
        elif type(amount) not in (int, float) or not math.isfinite(float(amount)):  # type: ignore[arg-type]
            problems.append(Problem(history.amount_column, "must be a finite number", "wrong_type"))
        else:
            units = self.definitions.units(float(amount))  # type: ignore[arg-type]
        for name in self._computed & features.keys():
            problems.append(
                Problem(
                    name,
                    "is computed by the server from the transaction history; remove it",
                    "unknown_field",
                )
            )
        if problems:
            raise ProblemsError(
                f"The transaction for {self.namespace} has {len(problems)} problem(s):",
                problems=problems,
                hint="Send the transaction's id, time, amount and keys among the features; "
                "see docs/history-features.md.",
            )
        return Transaction(event_id, time_us, units, keys)

    def enrich(self, features: Mapping[str, object]) -> tuple[dict[str, object], Transaction]:
        """The model's features for this request (history looked up and computed) and the
        transaction to :meth:`record` after the decision."""
        transaction = self.transaction(features)
        entities = self.definitions.entities
        horizon = self.definitions.horizon_us
        t = transaction.time_us
        found = self.store.windows(
            self.namespace,
            [(e, transaction.keys[e], t - horizon[e], t) for e in entities],
        )
        values = self.definitions.compute(t, dict(zip(entities, found, strict=True)))
        enriched: dict[str, object] = {k: v for k, v in features.items() if k not in self._strip}
        enriched.update(values)
        return enriched, transaction

    def record(self, transaction: Transaction) -> bool:
        """Append the decided transaction; False if its id was already kept."""
        return self.store.append(self.namespace, transaction.event())


def record_label(store: OnlineStore, namespace: str, event_id: str, *, fraud: bool) -> None:
    """Record the label of transaction ``event_id`` of model ``namespace``; NotFoundError if
    the store does not keep it."""
    if not store.label(namespace, event_id, fraud=fraud):
        raise NotFoundError(
            f"The online history of {namespace} keeps no transaction {event_id!r}.",
            hint="Label a transaction that was decided or backfilled: "
            "riskops history backfill <spec> first, or check the id.",
        )


def _key(features: Mapping[str, object], column: str, what: str, problems: list[Problem]) -> str:
    value = features.get(column)
    if value is None:
        problems.append(Problem(column, f"is required: {what}", "missing"))
        return ""
    if type(value) is int:
        return str(value)
    if type(value) is str and 0 < len(value) <= MAX_KEY:
        return value
    problems.append(
        Problem(
            column,
            f"must be {what} as a string of 1 to {MAX_KEY} characters or an integer",
            "wrong_type",
        )
    )
    return ""
