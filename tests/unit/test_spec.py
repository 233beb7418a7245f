from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from riskops.errors import SpecError
from riskops.spec import ModelSpec, dump_spec, load_spec, parse_spec
from tests.conftest import SPEC


def reference() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def test_the_reference_spec_is_valid() -> None:
    loaded = load_spec(SPEC)
    spec = loaded.spec
    assert spec.name == "credit-scoring"
    assert spec.risk_tier == "high"
    assert len(spec.features) == 17
    assert all(f.reason for f in spec.features)
    assert spec.data.label.positive == "bad"
    assert loaded.resolve(spec.data.source).is_file()
    assert len(loaded.sha256) == 64


def test_a_folder_means_its_model_yaml() -> None:
    assert load_spec(SPEC.parent).spec.name == "credit-scoring"


def broken(edit: Any) -> str:
    raw = reference()
    edit(raw)
    return yaml.safe_dump(raw)


@pytest.mark.parametrize(
    ("edit", "location", "message"),
    [
        (lambda r: r.pop("owner"), "owner", "required key is missing"),
        (lambda r: r.update(risk_tier="extreme"), "risk_tier", "'high', 'medium' or 'low'"),
        (lambda r: r.update(name="Credit Scoring"), "name", "not a valid model name"),
        (lambda r: r.update(colour="blue"), "colour", "unknown key"),
        (
            lambda r: r["features"][1].update(type="number"),
            "features[1] (duration_in_month).type",
            "'numeric' or 'categorical'",
        ),
        (
            lambda r: r["features"][0].pop("categories"),
            "features[0] (status_of_existing_checking_account)",
            "needs 'categories'",
        ),
        (
            lambda r: r["features"][1].update(min=10, max=5),
            "features[1] (duration_in_month)",
            "'min' (10.0) is greater than 'max' (5.0)",
        ),
        (
            lambda r: r["features"][2].pop("reason"),
            "features[2] (credit_history).reason",
            "required key is missing",
        ),
        (lambda r: r["policy"].update(approve_below=0.9), "policy", "must not exceed decline_from"),
        (
            lambda r: r["trainer"].update(entrypoint="train it"),
            "trainer.entrypoint",
            "is not an entrypoint",
        ),
        (
            lambda r: r["gates"]["performance"].update(min_auc=1.5),
            "gates.performance.min_auc",
            "less than or equal to 1",
        ),
        (
            lambda r: r["data"]["label"].update(column="duration_in_month"),
            "(top level)",
            "also listed as a feature",
        ),
        (lambda r: r["features"].append(dict(r["features"][0])), "(top level)", "listed twice"),
        (
            lambda r: r.update(monitoring={"feature_psi": {"warning": 0.3, "critical": 0.2}}),
            "monitoring.feature_psi",
            "warning (0.3) must not exceed critical (0.2)",
        ),
        (
            lambda r: r.update(monitoring={"segment": "age_in_years"}),
            "(top level)",
            "monitoring.segment names 'age_in_years', which is not a categorical feature",
        ),
        (
            lambda r: r.update(monitoring={"on_critical_prediction_drift": "page"}),
            "monitoring.on_critical_prediction_drift",
            "'alert' or 'rollback'",
        ),
    ],
)
def test_a_malformed_spec_names_the_field_and_the_fix(
    edit: Any, location: str, message: str
) -> None:
    with pytest.raises(SpecError, match="is not a valid model spec") as info:
        parse_spec(broken(edit), source="model.yaml")
    problems = {str(p.location): p.message for p in info.value.problems}
    assert location in problems, problems
    assert message in problems[location]
    assert "docs/model-spec.md" in (info.value.hint or "")


def test_invalid_yaml_gives_line_and_column() -> None:
    with pytest.raises(SpecError, match="is not valid YAML") as info:
        parse_spec("name: a\n  bad: [\n", source="model.yaml")
    assert info.value.problems[0].location.startswith("line ")


def test_a_yaml_list_is_not_a_spec() -> None:
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        parse_spec("- a\n- b\n")


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="No model spec at"):
        load_spec(tmp_path / "nope.yaml")


thresholds = st.floats(0.0, 1.0, allow_nan=False)


@given(
    auc=thresholds,
    drop=thresholds,
    cut=st.tuples(thresholds, thresholds).map(sorted),
    tier=st.sampled_from(["high", "medium", "low"]),
    seed=st.integers(0, 2**31),
    owner=st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and s.isprintable()),
)
def test_dump_then_parse_is_the_identity(
    auc: float, drop: float, cut: list[float], tier: str, seed: int, owner: str
) -> None:
    raw = reference()
    raw["gates"]["performance"]["min_auc"] = auc
    raw["gates"]["champion"]["max_auc_drop"] = drop
    raw["policy"] = {"approve_below": cut[0], "decline_from": cut[1]}
    raw["risk_tier"] = tier
    raw["data"]["split"]["seed"] = seed
    raw["owner"] = owner
    spec = ModelSpec.model_validate(raw)
    assert parse_spec(dump_spec(spec)).spec == spec
