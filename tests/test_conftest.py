"""The one way a test says its service or program is missing: a skip locally, a failure in CI."""

from __future__ import annotations

import pytest

from tests.conftest import unavailable, under_ci


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", " TRUE "])
def test_ci_is_recognised(value: str) -> None:
    assert under_ci({"CI": value})


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}])
def test_no_ci_is_recognised(environ: dict[str, str]) -> None:
    assert not under_ci(environ)


def test_a_missing_service_skips_with_its_reason_locally() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"^PostgreSQL at x is not available$"):
        unavailable("PostgreSQL at x is not available", environ={})


def test_a_missing_service_fails_the_test_under_ci() -> None:
    with pytest.raises(
        pytest.fail.Exception,
        match=r"^chromium not installed \(CI=true: a missing service or program fails the test\)$",
    ):
        unavailable("chromium not installed", environ={"CI": "true"})


def test_the_machine_s_own_ci_variable_decides_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^weed missing \(CI=true"):
        unavailable("weed missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"^weed missing$"):
        unavailable("weed missing")
