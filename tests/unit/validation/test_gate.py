"""What a check comes to: passed, failed, not applicable (declared, with its reason) or
reported; a check that could not be computed is never a pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from riskops.errors import SpecError
from riskops.spec import parse_spec
from riskops.validation.gate import (
    GateResult,
    counts,
    settle,
    status_of,
    summary_line,
    threshold_check,
)
from riskops.validation.gates.data_quality import DataQualityGate
from tests.conftest import SPEC
from tests.unit.validation.toys import scored, toy_input, toy_spec


def _result(gate: str, **fields: Any) -> GateResult:
    base: dict[str, Any] = {
        "gate": gate,
        "kind": "riskops.gate/test@1",
        "metric": gate.split(".")[-1],
        "value": None,
        "threshold": None,
        "comparison": "n/a",
        "severity": "blocking",
        "passed": True,
        "evidence": {"note": "nothing to measure"},
    }
    return GateResult(**{**base, **fields})


def _checked(gate: str, value: float, threshold: float) -> GateResult:
    return threshold_check(
        gate=gate,
        kind="riskops.gate/test@1",
        metric="m",
        value=value,
        threshold=threshold,
        comparison=">=",
        severity="blocking",
        evidence={},
    )


def test_a_check_that_could_not_be_computed_fails_and_says_how_to_declare_it() -> None:
    [settled] = settle([_result("data_quality.duplicate_subjects")], {})
    assert settled.status == "failed"
    assert not settled.passed
    assert settled.blocks
    assert "gates.not_applicable" in settled.evidence["not_computed"]
    assert settled.evidence["status"] == "failed"


def test_an_advisory_check_that_could_not_be_computed_fails_without_blocking() -> None:
    [settled] = settle([_result("fairness", severity="advisory")], {})
    assert settled.status == "failed"
    assert not settled.blocks


def test_a_declared_check_is_not_applicable_with_the_specs_reason() -> None:
    reason = "applications are not linked to people"
    [settled] = settle(
        [_result("data_quality.duplicate_subjects")],
        {"data_quality.duplicate_subjects": reason},
    )
    assert settled.status == "not_applicable"
    assert settled.passed
    assert not settled.blocks
    assert settled.evidence["not_applicable"] == reason
    assert settled.evidence["declared_in"] == "gates.not_applicable.data_quality.duplicate_subjects"


def test_a_gate_declaration_covers_its_checks_but_never_hides_a_measurement() -> None:
    results = [
        _result("fairness.sex.approval_rate_ratio"),
        _checked("fairness.age.approval_rate_ratio", 0.5, 0.8),
    ]
    unmeasured, measured = settle(results, {"fairness": "no protected attribute"})
    assert unmeasured.status == "not_applicable"
    assert measured.status == "failed"
    assert measured.blocks
    assert "result stands" in measured.evidence["declared_not_applicable_but_measured"]


def test_a_prefix_that_is_not_a_whole_name_does_not_match() -> None:
    [settled] = settle([_result("fairness_extra")], {"fairness": "no protected attribute"})
    assert settled.status == "failed"


def test_statuses_are_counted_apart_and_failures_named() -> None:
    results = settle(
        [
            _checked("performance.auc", 0.8, 0.7),
            _checked("performance.ks", 0.1, 0.3),
            _result("calibration.ece", value=0.03),
            _result("data_quality.duplicate_subjects"),
            _result("monotonicity"),
            _result(
                "champion.auc_difference",
                evidence={"status": "not_applicable", "not_applicable": "no champion"},
            ),
        ],
        {"monotonicity": "no feature declares a monotone direction"},
    )
    assert [r.status for r in results] == [
        "passed",
        "failed",
        "reported",
        "failed",
        "not_applicable",
        "not_applicable",
    ]
    assert counts(results) == {"passed": 1, "failed": 2, "not_applicable": 2, "reported": 1}
    assert summary_line(results) == (
        "1 passed, 2 failed (performance.ks, data_quality.duplicate_subjects), "
        "2 not applicable, 1 reported, of 6 checks"
    )
    assert results[0].as_dict()["status"] == "passed"


def test_a_stored_pass_without_a_value_reads_as_not_applicable_never_passed() -> None:
    assert status_of(None, 0.0, "n/a", True, {}) == "not_applicable"
    assert status_of(0.03, None, "n/a", True, {}) == "reported"
    assert status_of(0.8, 0.7, ">=", True, {}) == "passed"
    assert status_of(None, 0.7, "n/a", False, {}) == "failed"
    assert status_of(None, 0.0, "n/a", True, {"status": "failed"}) == "failed"


def test_duplicate_subjects_without_a_subject_key_fails_unless_declared() -> None:
    y = np.array([0, 1] * 20)
    sample = scored("validation", y, np.linspace(0.1, 0.9, 40))
    plain = toy_spec("data_quality")
    raw = list(DataQualityGate().evaluate(toy_input(plain, sample)))
    duplicates = next(r for r in settle(raw, {}) if r.gate == "data_quality.duplicate_subjects")
    assert duplicates.status == "failed"
    assert duplicates.blocks
    declared = plain.model_copy(
        update={
            "gates": plain.gates.model_copy(
                update={"not_applicable": {"data_quality.duplicate_subjects": "no people"}}
            )
        }
    )
    settled = settle(raw, declared.gates.not_applicable)
    duplicates = next(r for r in settled if r.gate == "data_quality.duplicate_subjects")
    assert duplicates.status == "not_applicable"
    assert duplicates.evidence["not_applicable"] == "no people"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"fairnes": "typo"}, "no gate's check"),
        ({"fairness": "  "}, "gives no reason"),
    ],
)
def test_a_bad_declaration_names_the_fix(declared: dict[str, str], message: str) -> None:
    text = SPEC.read_text().replace(
        "  not_applicable:\n",
        "  not_applicable:\n" + "".join(f"    {k}: '{v}'\n" for k, v in declared.items()),
    )
    with pytest.raises(SpecError, match="is not a valid model spec") as info:
        parse_spec(text, source="model.yaml")
    problems = {str(p.location): p.message for p in info.value.problems}
    assert any(message in m for m in problems.values()), problems
