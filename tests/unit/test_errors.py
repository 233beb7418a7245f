"""The exception tree: every error has a stable code, drawn in the module's docstring."""

from __future__ import annotations

import re

import pytest

import riskops.errors as errors_module
from riskops.errors import (
    ConflictError,
    DataSchemaError,
    InputError,
    MissingExtraError,
    Problem,
    ProblemsError,
    RiskopsError,
    SpecError,
)
from riskops.scoring.features import RequestInvalid
from riskops.serving.auth import ApiKeyMissing
from riskops.serving.http_errors import MethodNotAllowed, PayloadTooLarge

ALL = (
    *(
        value
        for value in vars(errors_module).values()
        if isinstance(value, type) and issubclass(value, RiskopsError)
    ),
    RequestInvalid,
    PayloadTooLarge,
    MethodNotAllowed,
    ApiKeyMissing,
)

# "    │   └── SpecError        spec_invalid         a model spec ..."
_TREE_LINE = re.compile(
    r"^\s*[│├└─\s]*(?P<name>[A-Za-z]+(?:Error|Invalid|Large|Allowed|Missing))\s+(?P<code>[a-z_]+)(?:\s|$)"
)


def drawn_tree() -> dict[str, str]:
    doc = errors_module.__doc__ or ""
    found = {}
    for line in doc.splitlines():
        match = _TREE_LINE.match(line)
        if match:
            found[match["name"]] = match["code"]
    return found


def test_every_error_class_has_a_code_of_its_own_drawn_in_the_tree() -> None:
    tree = drawn_tree()
    assert tree == {cls.__name__: cls.code for cls in ALL}
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code) for cls in ALL)


def test_codes_are_stable() -> None:
    # The codes are an API: clients and dashboards match on them.
    assert {cls.__name__: cls.code for cls in ALL} == {
        "RiskopsError": "error",
        "ConfigError": "config_invalid",
        "InputError": "input_invalid",
        "ProblemsError": "input_invalid",
        "SpecError": "spec_invalid",
        "DataSchemaError": "data_schema_invalid",
        "RequestInvalid": "request_invalid",
        "PayloadTooLarge": "payload_too_large",
        "MethodNotAllowed": "method_not_allowed",
        "NotFoundError": "not_found",
        "ConflictError": "conflict",
        "PermissionDeniedError": "permission_denied",
        "ApiKeyMissing": "api_key_missing",
        "GateFailedError": "gate_failed",
        "IntegrityError": "integrity",
        "MissingExtraError": "missing_extra",
        "BackendError": "backend_unavailable",
        "BusyError": "busy",
    }


def test_codes_run_from_the_most_specific_to_the_most_general() -> None:
    assert SpecError.codes() == ("spec_invalid", "input_invalid", "error")
    assert DataSchemaError("bad").codes() == ("data_schema_invalid", "input_invalid", "error")
    assert ProblemsError.codes() == ("input_invalid", "error")
    assert RequestInvalid.codes() == ("request_invalid", "input_invalid", "error")
    assert ConflictError("no").code == "conflict"
    assert RiskopsError.codes() == ("error",)


def test_an_error_subclass_without_a_code_inherits_its_parents() -> None:
    class Unlisted(InputError):
        pass

    assert Unlisted.code == "input_invalid"
    assert Unlisted.codes() == ("input_invalid", "error")


def test_a_problem_has_a_code_that_defaults_to_invalid() -> None:
    assert Problem("age", "is wrong").code == "invalid"
    assert Problem("age", "is required", "missing").code == "missing"


def test_a_missing_extra_names_the_package_and_the_extra_to_install() -> None:
    error = MissingExtraError("Model documents", "matplotlib", "docs")
    with pytest.raises(MissingExtraError, match=r"^Model documents needs matplotlib, which"):
        raise error
    assert error.hint == "Install it with: pip install 'riskops[docs]'"
    assert error.code == "missing_extra"
