from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from riskops.errors import (
    BackendError,
    BusyError,
    ConflictError,
    InputError,
    IntegrityError,
    PermissionDeniedError,
    SpecError,
)
from riskops.flows.retries import check_retries, is_transient


@pytest.mark.parametrize(
    "error",
    [
        BackendError("the database did not answer"),
        BusyError("busy", retry_after=1),
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        ConnectionResetError("reset by peer"),
        TimeoutError("timed out"),
    ],
)
def test_transient_errors_are_retried(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        SpecError("spec is invalid"),
        InputError("bad input"),
        PermissionDeniedError("not a developer"),
        ConflictError("not a candidate"),
        IntegrityError("digest mismatch"),
        ValueError("a bug"),
    ],
)
def test_errors_that_fail_the_same_way_again_are_not_retried(error: BaseException) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(
    ("retries", "delay", "match"),
    [
        (True, 1.0, "retries must be a whole number"),
        (2.5, 1.0, "retries must be a whole number"),
        (2, "soon", "retry_delay_seconds must be a number of seconds"),
        (2, 90000, "retry_delay_seconds must be from 0 to 86400"),
    ],
)
def test_check_retries_refuses_bad_options(retries: object, delay: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        check_retries(retries, delay)  # type: ignore[arg-type]


def test_check_retries_takes_zero() -> None:
    check_retries(0, 0)
