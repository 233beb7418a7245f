"""The one table that maps riskops errors to exit codes, and how an error is shown.

Exit codes: 0 ok; 1 a failure (a broken chain, a backend that does not answer, a failed gate);
2 refused or bad input (unknown model, wrong state, missing role, malformed spec or data).
The table is keyed by the errors' codes (:mod:`riskops.errors`), looked up from the most
specific code an error has to the most general; the JSON form of an error carries its code.
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

EXIT_CODES: dict[str, int] = {
    InputError.code: EXIT_REFUSED,
    ConfigError.code: EXIT_REFUSED,
    NotFoundError.code: EXIT_REFUSED,
    ConflictError.code: EXIT_REFUSED,
    PermissionDeniedError.code: EXIT_REFUSED,
    MissingExtraError.code: EXIT_REFUSED,
    GateFailedError.code: EXIT_FAILURE,
    IntegrityError.code: EXIT_FAILURE,
    BackendError.code: EXIT_FAILURE,
}


def exit_code(error: RiskopsError) -> int:
    for code in error.codes():
        if code in EXIT_CODES:
            return EXIT_CODES[code]
    return EXIT_FAILURE


def render(error: RiskopsError, *, as_json: bool) -> None:
    """Write the error to stderr: text for people, or one JSON object for scripts."""
    problems = [str(p) for p in getattr(error, "problems", ())]
    if as_json:
        body = {
            "error": {
                "type": type(error).__name__,
                "code": error.code,
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
