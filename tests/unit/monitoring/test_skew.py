from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from riskops.context import Context
from riskops.errors import NotFoundError, PermissionDeniedError, ProblemsError
from riskops.monitoring.skew import check_skew
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys
from riskops.spec import load_spec
from riskops.store.tables import AuditEventRecord
from tests.conftest import DATA, SPEC
from tests.unit.monitoring.conftest import MODEL, log_decisions

ROWS = 200


@pytest.fixture
def source(workspace: Context, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """ROWS applicants: logged decisions with their served features, and the offline file
    (the same applicants plus 40 never scored) keyed by ``customer_id``."""
    names = load_spec(SPEC).spec.feature_names
    frame = pd.read_csv(DATA).head(ROWS + 40)
    frame.insert(0, "customer_id", [f"C-{i:05d}" for i in range(len(frame))])
    path = tmp_path / "offline.csv"
    frame.to_csv(path, index=False)
    return path, frame[["customer_id", *names]]


def _serve(ctx: Context, frame: pd.DataFrame, change: dict[str, Any] | None = None) -> None:
    rows = []
    for record in frame.head(ROWS).to_dict("records"):
        features = {k: v for k, v in record.items() if k != "customer_id"}
        for name, transform in (change or {}).items():
            features[name] = transform(features[name])
        rows.append(
            {
                "subject_id": record["customer_id"],
                "score": 0.3,
                "decided_at": datetime(2026, 5, 1, tzinfo=UTC),
                "features": features,
            }
        )
    log_decisions(ctx, rows)


def test_a_unit_change_in_one_feature_is_caught_and_no_other(
    workspace: Context, source: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = source
    _serve(workspace, frame, {"credit_amount": lambda v: v * 100})  # cents, not units
    report = check_skew(
        workspace, MODEL, path, subject_key="customer_id", sample=120, actor="victor"
    )
    assert (report.source_subjects, report.matched, report.sampled) == (ROWS + 40, ROWS, 120)
    assert report.flagged == ["credit_amount"]
    by_name = {f.name: f for f in report.features}
    assert by_name["credit_amount"].mismatch_rate == 1.0
    assert by_name["credit_amount"].distance is not None
    assert by_name["credit_amount"].distance > 1
    others = [f for f in report.features if f.name != "credit_amount"]
    assert all(f.mismatches == 0 and f.distance == 0.0 and f.compared == 120 for f in others)
    with workspace.store.reading() as session:
        event = session.scalars(
            select(AuditEventRecord).where(AuditEventRecord.action == "skew.checked")
        ).one()
    assert json.loads(event.payload)["flagged"] == ["credit_amount"]


def test_matching_features_flag_nothing_and_erased_subjects_are_skipped(
    workspace: Context, source: tuple[Path, pd.DataFrame]
) -> None:
    path, frame = source
    _serve(workspace, frame)
    keys = SubjectKeys(
        workspace.store, bind_secrets(workspace.settings, workspace.store), workspace.clock
    )
    keys.erase_subject("C-00003", actor="oscar", role="operator")
    report = check_skew(workspace, MODEL, path, subject_key="customer_id", actor="victor")
    assert report.sampled == ROWS
    assert report.erased == 1
    assert report.flagged == []
    assert all(f.compared == ROWS - 1 for f in report.features)
    again = check_skew(workspace, MODEL, path, subject_key="customer_id", actor="victor", sample=50)
    same = check_skew(workspace, MODEL, path, subject_key="customer_id", actor="victor", sample=50)
    assert again.as_dict()["features"] == same.as_dict()["features"]  # a fixed seed


def test_bad_sources_are_refused_with_the_fix(
    workspace: Context, source: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = source
    with pytest.raises(ProblemsError, match="lacks 1 column") as caught:
        check_skew(workspace, MODEL, path, subject_key="customer", actor="victor")
    assert "did you mean 'customer_id'? name it with --subject-key" in str(caught.value)
    frame.drop(columns=["credit_amount"]).rename(columns={"purpose": "Purpose"}).to_csv(
        tmp_path / "short.csv", index=False
    )
    with pytest.raises(ProblemsError, match="lacks 2 column") as caught:
        check_skew(
            workspace, MODEL, tmp_path / "short.csv", subject_key="customer_id", actor="victor"
        )
    assert "column 'purpose': not in the file; did you mean 'Purpose'? rename it" in str(
        caught.value
    )
    assert "column 'credit_amount': not in the file; rename it to the spec's" in str(caught.value)
    doubled = tmp_path / "doubled.csv"
    pd.concat([frame, frame.head(2)]).to_csv(doubled, index=False)
    with pytest.raises(ProblemsError, match="one row per subject") as caught:
        check_skew(workspace, MODEL, doubled, subject_key="customer_id", actor="victor")
    assert "customer_id 'C-00000': appears more than once" in str(caught.value)
    with pytest.raises(NotFoundError, match="No logged decision of 'credit-scoring' is about"):
        check_skew(workspace, MODEL, path, subject_key="customer_id", actor="victor")
    with pytest.raises(PermissionDeniedError, match="cannot check training–serving skew"):
        check_skew(workspace, MODEL, path, subject_key="customer_id", actor="alice")
