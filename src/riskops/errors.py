"""The one exception tree of riskops, organised by what the caller can do about it.

Each class carries a stable machine-readable ``code`` (a subclass may refine its parent's);
the shells map codes, never message text, to exit codes and HTTP statuses, and show the code
in the CLI's JSON errors and in problem+json bodies::

    RiskopsError                 error
    ├── ConfigError              config_invalid       the workspace or an environment variable is wrong
    ├── InputError               input_invalid        bad input at an entry point (CLI argument, file, request)
    │   ├── ProblemsError        input_invalid        several problems, each naming its field or row
    │   │   ├── SpecError        spec_invalid         a model spec that does not validate
    │   │   ├── DataSchemaError  data_schema_invalid  a dataset that does not match its spec
    │   │   └── RequestInvalid   request_invalid      a scoring request that does not match its spec (scoring)
    │   ├── PayloadTooLarge      payload_too_large    a request body over the server's limit (serving)
    │   └── MethodNotAllowed     method_not_allowed   an HTTP method the endpoint does not take (serving)
    ├── NotFoundError            not_found            no such model, version, person or event
    ├── ConflictError            conflict             the action is not allowed in the object's current state
    ├── PermissionDeniedError    permission_denied    the actor lacks the role, or separation of duties forbids it
    │   └── ApiKeyMissing        api_key_missing      no valid API key on a request (serving)
    ├── GateFailedError          gate_failed          a blocking validation gate failed
    ├── IntegrityError           integrity            a broken audit chain or an artifact digest mismatch
    ├── MissingExtraError        missing_extra        an optional dependency is not installed
    └── BackendError             backend_unavailable  a database, tracking server or object store did not answer
        └── BusyError            busy                 a server at a limit it keeps on purpose: retry after a pause

Every error carries a ``hint``: the next thing to do, usually a command. The shells map the tree
to exit codes (``riskops.cli.errors``) and HTTP statuses (``riskops.serving.http_errors``) in
one table each, keyed by code; :meth:`RiskopsError.codes` gives an error's code and then the
codes it refines, so a table needs only the general ones.

A :class:`Problem` carries a code as well (``missing``, ``out_of_range``, ``wrong_type``,
``unknown_category``, ``unknown_field`` or ``invalid``), so that what counts problems (the
serving metrics) never reads their text.

Example::

    try:
        deploy(ctx, ref, environment="production", actor="oscar")
    except RiskopsError as error:
        error.code          # "conflict"
        error.codes()       # ("conflict", "error")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class RiskopsError(Exception):
    """Base of every error riskops raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        """This error's code, then each code it refines, most specific first (no repeats)."""
        found: list[str] = []
        for klass in cls.__mro__:
            code = klass.__dict__.get("code")
            if isinstance(code, str) and code not in found:
                found.append(code)
        return tuple(found)


class ConfigError(RiskopsError):
    """The workspace configuration or an environment variable is invalid."""

    code = "config_invalid"


class InputError(RiskopsError):
    """Input at an entry point is malformed."""

    code = "input_invalid"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, what is wrong there, and the kind of
    problem as a stable ``code`` (``missing``, ``out_of_range``, ``wrong_type``,
    ``unknown_category``, ``unknown_field``; ``invalid`` otherwise)."""

    location: str
    message: str
    code: str = "invalid"

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

    code = "spec_invalid"


class DataSchemaError(ProblemsError):
    """A dataset does not match the schema its spec declares."""

    code = "data_schema_invalid"


class NotFoundError(RiskopsError):
    """The named model, version, person or event does not exist."""

    code = "not_found"


class ConflictError(RiskopsError):
    """The action is not allowed in the object's current lifecycle state."""

    code = "conflict"

    def __init__(self, message: str, *, model_ref: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.model_ref = model_ref


class PermissionDeniedError(RiskopsError):
    """The actor lacks the required role, or separation of duties forbids the action."""

    code = "permission_denied"

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

    code = "gate_failed"

    def __init__(self, message: str, *, gates: Sequence[str] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.gates = tuple(gates)


class IntegrityError(RiskopsError):
    """Evidence does not verify: a broken audit chain or an artifact digest mismatch."""

    code = "integrity"

    def __init__(self, message: str, *, seq: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.seq = seq


class MissingExtraError(RiskopsError):
    """An optional dependency is not installed; the hint names the extra to install."""

    code = "missing_extra"

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

    code = "backend_unavailable"


class BusyError(BackendError):
    """The service is at a concurrency limit it keeps on purpose (so that one kind of request
    cannot starve another); ``retry_after`` says in how many seconds to try again."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)
        self.retry_after: int = retry_after
