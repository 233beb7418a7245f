"""The one exception tree of riskops, organised by what the caller can do about it.

    RiskopsError
    ├── ConfigError              the workspace or an environment variable is wrong
    ├── InputError               bad input at an entry point (CLI argument, file, request)
    │   └── ProblemsError        several problems, each naming its field or row
    │       ├── SpecError        a model spec that does not validate
    │       ├── DataSchemaError  a dataset that does not match its spec
    │       └── RequestInvalid   a scoring request that does not match its spec (serving)
    ├── NotFoundError            no such model, version, person or event
    ├── ConflictError            the action is not allowed in the object's current state
    ├── PermissionDeniedError    the actor lacks the role, or separation of duties forbids it
    ├── GateFailedError          a blocking validation gate failed
    ├── IntegrityError           a broken audit chain or an artifact digest mismatch
    ├── MissingExtraError        an optional dependency is not installed
    └── BackendError             a database, tracking server or object store did not answer
        └── BusyError            a server at a limit it keeps on purpose: retry after a pause

Every error carries a ``hint``: the next thing to do, usually a command. The shells map the tree
to exit codes and HTTP statuses in one table each (``riskops.cli.errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RiskopsError(Exception):
    """Base of every error riskops raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(RiskopsError):
    """The workspace configuration or an environment variable is invalid."""


class InputError(RiskopsError):
    """Input at an entry point is malformed."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and what is wrong there."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ProblemsError(InputError):
    """Bad input with several problems, each naming where it is (``problems``)."""

    def __init__(
        self, message: str, *, problems: Sequence[Problem] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)

    def __str__(self) -> str:
        lines = [self.message, *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class SpecError(ProblemsError):
    """A model spec (YAML) failed validation; ``problems`` names each field."""


class DataSchemaError(ProblemsError):
    """A dataset does not match the schema its spec declares."""


class NotFoundError(RiskopsError):
    """The named model, version, person or event does not exist."""


class ConflictError(RiskopsError):
    """The action is not allowed in the object's current lifecycle state."""

    def __init__(self, message: str, *, model_ref: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.model_ref = model_ref


class PermissionDeniedError(RiskopsError):
    """The actor lacks the required role, or separation of duties forbids the action."""

    def __init__(
        self,
        message: str,
        *,
        actor: str | None = None,
        model_ref: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.actor = actor
        self.model_ref = model_ref


class GateFailedError(RiskopsError):
    """A blocking validation gate failed."""

    def __init__(self, message: str, *, gates: Sequence[str] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.gates = tuple(gates)


class IntegrityError(RiskopsError):
    """Evidence does not verify: a broken audit chain or an artifact digest mismatch."""

    def __init__(self, message: str, *, seq: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.seq = seq


class MissingExtraError(RiskopsError):
    """An optional dependency is not installed; the hint names the extra to install."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {package}, which is not installed.",
            hint=f"Install it with: pip install 'riskops[{extra}]'",
        )
        self.package = package
        self.extra = extra


class BackendError(RiskopsError):
    """A database, tracking server or object store did not answer as expected;
    ``retry_after`` (seconds), when set, is when asking again makes sense."""

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class BusyError(BackendError):
    """The service is at a concurrency limit it keeps on purpose (so that one kind of request
    cannot starve another); ``retry_after`` says in how many seconds to try again."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)
        self.retry_after: int = retry_after
