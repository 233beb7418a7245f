from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from riskops.context import Context, open_context
from riskops.errors import InputError, NotFoundError, PermissionDeniedError, ProblemsError
from riskops.monitoring.labels import cohort_of, ingest_labels, months_between, stored_label
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys
from riskops.store.tables import AuditEventRecord, LabelRecord, PerformanceCellRecord
from riskops.workspace import init_workspace
from tests.conftest import PEOPLE
from tests.unit.monitoring.conftest import MODEL, Logged, add_version, log_decisions

JAN = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def _decisions(ctx: Context, scores: list[float]) -> list[Logged]:
    return log_decisions(
        ctx,
        [{"subject_id": f"C-{i}", "score": s, "decided_at": JAN} for i, s in enumerate(scores)],
    )


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _cells(ctx: Context) -> list[tuple[object, ...]]:
    with ctx.store.reading() as session:
        return [
            (c.cohort, c.months_since, c.outcome, c.score_bin, c.n, c.positives, round(c.sum_p, 12))
            for c in session.scalars(
                select(PerformanceCellRecord).order_by(PerformanceCellRecord.id)
            )
            if c.n
        ]


def test_months_between_counts_whole_calendar_months() -> None:
    assert months_between(datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)) == 0
    assert months_between(datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)) == 2
    assert months_between(JAN, datetime(2027, 1, 15, 10, tzinfo=UTC)) == 12
    assert cohort_of(JAN) == "2026-01"


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    st.integers(0, 400),
    st.integers(0, 86_399),
)
def test_months_between_is_whole_months_elapsed(start: datetime, days: int, seconds: int) -> None:
    decided = start.replace(tzinfo=UTC)
    observed = decided + timedelta(days=days, seconds=seconds)
    months = months_between(decided, observed)
    assert 0 <= months <= (days + 1) // 28
    assert months >= days // 31  # at least one month per 31 days
    assert months_between(decided, observed + timedelta(days=31)) >= months


def test_ingest_seals_labels_and_adds_cells(workspace: Context, tmp_path: Path) -> None:
    made = _decisions(workspace, [0.05, 0.35, 0.75])
    path = _write(
        tmp_path / "labels.csv",
        [
            {"decision_id": made[0].decision_id, "label": "good", "observed_at": "2026-07-15"},
            {"decision_id": made[1].decision_id, "label": "bad", "observed_at": "2026-03-20"},
            {"decision_id": made[2].decision_id, "label": "bad", "observed_at": "2026-02-16"},
        ],
    )
    result = ingest_labels(workspace, path, model=MODEL, actor="oscar")
    assert (result.new, result.relabelled, result.positives, result.negatives) == (3, 0, 2, 1)
    assert _cells(workspace) == [
        ("2026-01", 5, "approve", 5, 1, 0, 0.05),
        ("2026-01", 2, "refer", 35, 1, 1, 0.35),
        ("2026-01", 1, "decline", 75, 1, 1, 0.75),
    ]
    label = stored_label(workspace, made[1].decision_id)
    assert label is not None
    assert label.positive is True
    assert label.relabels == 0
    with workspace.store.reading() as session:
        row = session.get(LabelRecord, made[1].decision_id)
        assert row is not None
        assert b"bad" not in row.label_ciphertext
        event = session.scalars(
            select(AuditEventRecord).where(AuditEventRecord.action == "labels.ingested")
        ).one()
    payload = json.loads(event.payload)
    assert payload["new"] == 3
    assert payload["positives"] == 2
    assert payload["file"] == "labels.csv"


def test_a_relabel_moves_the_decision_to_its_new_cell(workspace: Context, tmp_path: Path) -> None:
    made = _decisions(workspace, [0.42])
    first = {"decision_id": made[0].decision_id, "label": "good", "observed_at": "2026-02-15"}
    ingest_labels(workspace, _write(tmp_path / "a.csv", [first]), model=MODEL, actor="oscar")
    later = {"decision_id": made[0].decision_id, "label": "bad", "observed_at": "2026-05-01"}
    twice = [dict(later, label="good"), later]  # in one file too: the last row wins
    result = ingest_labels(workspace, _write(tmp_path / "b.csv", twice), model=MODEL, actor="oscar")
    assert result.relabelled == 2
    assert result.new == 0
    assert _cells(workspace) == [("2026-01", 3, "refer", 42, 1, 1, 0.42)]
    label = stored_label(workspace, made[0].decision_id)
    assert label is not None
    assert label.positive is True
    assert label.relabels == 1


def test_shadow_and_unscored_decisions_keep_labels_outside_the_cells(
    workspace: Context, tmp_path: Path
) -> None:
    made = log_decisions(
        workspace,
        [
            {"subject_id": "A", "score": 0.4, "decided_at": JAN},
            {"subject_id": "B", "score": 0.4, "decided_at": JAN, "served": False},
            {"subject_id": "C", "score": None, "decided_at": JAN},
        ],
    )
    rows = [
        {"decision_id": m.decision_id, "label": "bad", "observed_at": "2026-03-01"} for m in made
    ]
    result = ingest_labels(workspace, _write(tmp_path / "l.csv", rows), model=MODEL, actor="oscar")
    assert (result.new, result.unbinned) == (3, 2)
    assert _cells(workspace) == [("2026-01", 1, "refer", 40, 1, 1, 0.4)]
    shadow = stored_label(workspace, made[1].decision_id)
    assert shadow is not None
    assert shadow.positive is True


def test_bad_rows_refuse_the_whole_file_and_say_why(workspace: Context, tmp_path: Path) -> None:
    made = _decisions(workspace, [0.1, 0.2, 0.3, 0.4])
    rows = [
        {"decision_id": made[0].decision_id, "label": "good", "observed_at": "2026-02-01"},
        {"decision_id": "no-such-decision", "label": "good", "observed_at": "2026-02-01"},
        {"decision_id": made[1].decision_id, "label": "default", "observed_at": "2026-02-01"},
        {"decision_id": made[2].decision_id, "label": "bad", "observed_at": "last week"},
        {"decision_id": made[3].decision_id, "label": "bad", "observed_at": "2025-12-01"},
        {"decision_id": "", "label": "bad", "observed_at": "2026-02-01"},
        {"decision_id": made[0].decision_id, "label": "bad", "observed_at": "2999-01-01"},
    ]
    with pytest.raises(ProblemsError, match="6 of 7 row") as caught:
        ingest_labels(workspace, _write(tmp_path / "l.csv", rows), model=MODEL, actor="oscar")
    text = str(caught.value)
    assert "line 3: no decision 'no-such-decision'" in text
    assert "line 4: label 'default' is neither 'bad' (the event) nor 'good'" in text
    assert "line 5: observed_at 'last week' is not a time" in text
    assert "line 6: observed_at 2025-12-01T00:00:00+00:00 is before the decision" in text
    assert "line 7: decision_id is empty" in text
    assert "line 8: observed_at 2999-01-01T00:00:00+00:00 is in the future" in text
    with workspace.store.reading() as session:
        assert session.scalar(select(func.count()).select_from(LabelRecord)) == 0
        assert session.scalar(select(func.count()).select_from(PerformanceCellRecord)) == 0


def test_missing_columns_name_their_near_matches(workspace: Context, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "l.csv", [{"decision": "x", "Label": "bad", "observed_at": "2026-02-01"}]
    )
    with pytest.raises(ProblemsError, match="lacks 2 column") as caught:
        ingest_labels(workspace, path, model=MODEL, actor="oscar")
    text = str(caught.value)
    assert (
        "column 'decision_id': not in the file; did you mean 'decision'? name it with --id-column"
        in text
    )
    assert "'Label'" in text
    assert "--label-column" in text


def test_other_inputs_are_refused_with_a_hint(workspace: Context, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No file at"):
        ingest_labels(workspace, tmp_path / "none.csv", model=MODEL, actor="oscar")
    (tmp_path / "l.json").write_text("{}")
    with pytest.raises(InputError, match="which riskops does not read"):
        ingest_labels(workspace, tmp_path / "l.json", model=MODEL, actor="oscar")
    path = _write(
        tmp_path / "l.csv", [{"decision_id": "x", "label": "bad", "observed_at": "2026-02-01"}]
    )
    with pytest.raises(NotFoundError, match="No model 'fraud'"):
        ingest_labels(workspace, path, model="fraud", actor="oscar")
    with pytest.raises(PermissionDeniedError, match="cannot ingest labels"):
        ingest_labels(workspace, path, model=MODEL, actor="alice")


def test_parquet_labels_with_integer_codes(workspace: Context, tmp_path: Path) -> None:
    made = _decisions(workspace, [0.6])
    path = tmp_path / "l.parquet"
    pd.DataFrame(
        {"id": [made[0].decision_id], "label": ["bad"], "seen": [datetime(2026, 4, 1, tzinfo=UTC)]}
    ).to_parquet(path)
    result = ingest_labels(
        workspace, path, model=MODEL, actor="oscar", id_column="id", observed_column="seen"
    )
    assert result.positives == 1
    assert _cells(workspace) == [("2026-01", 2, "decline", 60, 1, 1, 0.6)]


def test_erasure_makes_a_label_unreadable_and_keeps_the_cells(
    workspace: Context, tmp_path: Path
) -> None:
    made = _decisions(workspace, [0.3, 0.7])
    rows = [
        {"decision_id": m.decision_id, "label": "bad", "observed_at": "2026-03-01"} for m in made
    ]
    ingest_labels(workspace, _write(tmp_path / "l.csv", rows), model=MODEL, actor="oscar")
    before = _cells(workspace)
    keys = SubjectKeys(
        workspace.store, bind_secrets(workspace.settings, workspace.store), workspace.clock
    )
    assert keys.erase_subject(made[0].subject_id, actor="oscar", role="operator")
    gone = stored_label(workspace, made[0].decision_id)
    assert gone is not None
    assert gone.erased
    assert gone.positive is None
    assert gone.observed_at is None
    kept = stored_label(workspace, made[1].decision_id)
    assert kept is not None
    assert kept.positive is True
    assert _cells(workspace) == before  # sums that name no one stay
    again = [{"decision_id": made[0].decision_id, "label": "good", "observed_at": "2026-04-01"}]
    with pytest.raises(ProblemsError, match="1 of 1 row") as caught:
        ingest_labels(workspace, _write(tmp_path / "m.csv", again), model=MODEL, actor="oscar")
    assert "was erased, so no outcome about them may be stored; drop the row" in str(caught.value)


def test_ingest_relabel_and_erasure_on_each_store(
    store_url: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """The same contract on SQLite and PostgreSQL (the migration included)."""
    clean_env.setenv("RISKOPS_DATABASE_URL", store_url)
    context = open_context(init_workspace(tmp_path / "ws", people=PEOPLE))
    try:
        add_version(context)
        made = _decisions(context, [0.15, 0.55])
        rows = [
            {"decision_id": made[0].decision_id, "label": "good", "observed_at": "2026-02-20"},
            {"decision_id": made[1].decision_id, "label": "bad", "observed_at": "2026-02-20"},
        ]
        ingest_labels(context, _write(tmp_path / "a.csv", rows), model=MODEL, actor="oscar")
        rows[0]["label"] = "bad"
        again = ingest_labels(context, _write(tmp_path / "b.csv", rows), model=MODEL, actor="oscar")
        assert again.relabelled == 2
        assert _cells(context) == [
            ("2026-01", 1, "approve", 15, 1, 1, 0.15),
            ("2026-01", 1, "decline", 55, 1, 1, 0.55),
        ]
        secrets = bind_secrets(context.settings, context.store)
        SubjectKeys(context.store, secrets, context.clock).erase_subject(
            made[1].subject_id, actor="oscar", role="operator"
        )
        erased = stored_label(context, made[1].decision_id)
        assert erased is not None
        assert erased.erased
    finally:
        context.close()
