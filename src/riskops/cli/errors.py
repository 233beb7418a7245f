"""The one table that maps riskops errors to exit codes, and how an error is shown.

Exit codes: 0 ok; 1 a failure (a broken chain, a backend that does not answer, a failed gate);
2 refused or bad input (unknown model, wrong state, missing role, malformed spec or data).
"""

from __future__ import annotations

import json
import sys

from riskops.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    GateFailedError,
    InputError,
    IntegrityError,
    MissingExtraError,
    NotFoundError,
    PermissionDeniedError,
    RiskopsError,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REFUSED = 2

EXIT_CODES: dict[type[RiskopsError], int] = {
    InputError: EXIT_REFUSED,
    ConfigError: EXIT_REFUSED,
    NotFoundError: EXIT_REFUSED,
    ConflictError: EXIT_REFUSED,
    PermissionDeniedError: EXIT_REFUSED,
    MissingExtraError: EXIT_REFUSED,
    GateFailedError: EXIT_FAILURE,
    IntegrityError: EXIT_FAILURE,
    BackendError: EXIT_FAILURE,
}


def exit_code(error: RiskopsError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_FAILURE


def render(error: RiskopsError, *, as_json: bool) -> None:
    """Write the error to stderr: text for people, or one JSON object for scripts."""
    problems = [str(p) for p in getattr(error, "problems", ())]
    if as_json:
        body = {
            "error": {
                "type": type(error).__name__,
                "message": error.message,
                "problems": problems,
                "hint": error.hint,
                "exit_code": exit_code(error),
            }
        }
        sys.stderr.write(json.dumps(body) + "\n")
        return
    lines = [f"Error: {error.message}"]
    lines += [f"  - {p}" for p in problems]
    if error.hint:
        lines.append(f"Hint: {error.hint}")
    sys.stderr.write("\n".join(lines) + "\n")
