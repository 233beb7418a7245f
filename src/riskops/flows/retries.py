"""Which failures a flow retries: the transient ones only.

A store or tracking server that did not answer (:class:`~riskops.errors.BackendError`, which
includes a server at its limit, :class:`~riskops.errors.BusyError`), a database error
SQLAlchemy raised as ``OperationalError`` before riskops could name it, or a network error
(``ConnectionError``, ``TimeoutError``) may pass on its own: the step is tried again after a
pause. Anything else — a spec or data that does not validate, a missing role, a version in the
wrong state, a digest that does not match — fails the same way every time, so it is not
retried: the flow fails at once and says why.

Example::

    is_transient(BackendError("The riskops database did not answer"))   # True
    is_transient(SpecError("spec is invalid"))                          # False
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from riskops.errors import BackendError, InputError

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_SECONDS = 30.0
MAX_RETRIES = 10
_TRANSIENT: tuple[type[BaseException], ...] = (
    BackendError,
    OperationalError,
    ConnectionError,
    TimeoutError,
)


def is_transient(error: BaseException) -> bool:
    """True when ``error`` may pass if the step is tried again (see the module docstring)."""
    return isinstance(error, _TRANSIENT)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry the failed task run only when its exception is
    transient. (Prefect calls it only while retries are left.)"""
    error = state.result(raise_on_failure=False)
    return isinstance(error, BaseException) and is_transient(error)


def check_retries(retries: int, retry_delay_seconds: float) -> None:
    """InputError unless ``retries`` is 0…10 and the delay is 0 or more seconds."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise InputError(
            f"retries must be a whole number from 0 to {MAX_RETRIES}, not {retries!r}.",
            hint=f"For example retries={DEFAULT_RETRIES}; 0 turns retries off.",
        )
    if isinstance(retry_delay_seconds, bool) or not isinstance(retry_delay_seconds, int | float):
        raise InputError(
            f"retry_delay_seconds must be a number of seconds, not {retry_delay_seconds!r}.",
            hint=f"For example retry_delay_seconds={DEFAULT_RETRY_DELAY_SECONDS:g}.",
        )
    if not 0 <= retry_delay_seconds <= 86400:
        raise InputError(
            f"retry_delay_seconds must be from 0 to 86400 (a day), not {retry_delay_seconds!r}.",
            hint=f"For example retry_delay_seconds={DEFAULT_RETRY_DELAY_SECONDS:g}.",
        )
