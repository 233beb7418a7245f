"""Monitoring aggregates written by the flusher: one row per (batch, model, version,
environment, hour, segment), exact decision-layer counts, replay-safe, naming no one; the
environment travels from the WAL into the decision's sealed leaf."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskops.audit import verify
from riskops.decisions.aggregates import (
    LATENCY_BUCKETS_MS,
    UNRECORDED_ENVIRONMENT,
    MonitoringPlan,
    merge_moments,
    moments_of,
    plan_from_spec,
)
from riskops.decisions.log import DecisionLog
from riskops.decisions.sealing import verify_decisions
from riskops.errors import InputError
from riskops.privacy.secrets import WorkspaceSecrets
from riskops.spec import load_spec
from riskops.store import Store, open_store
from riskops.store.tables import DecisionRecord, MonitoringAggregateRecord, table_of
from tests.conftest import REPO
from tests.insider import bypass_guards
from tests.unit.decisions.test_decision_log import FEATURES, clock, entry

CREDIT_SPEC = REPO / "models" / "credit_scoring" / "model.yaml"


def aggregates(store: Store) -> list[MonitoringAggregateRecord]:
    with store.reading() as session:
        rows = list(session.scalars(select(MonitoringAggregateRecord)))
        session.expunge_all()
        return rows


def test_the_environment_travels_to_the_store_and_into_the_sealed_leaf(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(start=False)
    staged = entry(environment="staging")
    log.append(staged)
    log.append(entry())  # logged outside a server: no environment
    pending = log.get(staged.decision_id)
    assert pending is not None
    assert pending.environment == "staging"
    assert log.flush() == 2
    stored = log.get(staged.decision_id)
    assert stored is not None
    assert stored.flushed
    assert stored.environment == "staging"
    assert verify_decisions(store).ok
    with store.transaction() as session:  # moving it to another environment breaks the seal
        bypass_guards(session.connection(), "decisions")
        session.execute(
            update(DecisionRecord)
            .where(DecisionRecord.id == staged.decision_id)
            .values(environment="production")
        )
    report = verify_decisions(store)
    assert not report.ok
    assert "was edited" in str(report.reason)


def test_an_environment_the_store_could_not_hold_is_refused(
    make_log: Callable[..., DecisionLog],
) -> None:
    log = make_log(start=False)
    with pytest.raises(InputError, match="environment must have 1 to 40 characters"):
        log.append(entry(environment="x" * 41))


def test_each_batch_adds_exact_decision_layer_counts_per_window(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    log = make_log(start=False)
    hour = datetime(2026, 12, 7, 10, tzinfo=UTC)
    made = [
        entry(decision="approve", latency_ms=0.4, decided_at=hour + timedelta(minutes=5)),
        entry(decision="approve", latency_ms=0.9, decided_at=hour + timedelta(minutes=59)),
        entry(decision="refer", latency_ms=3.0, fallback=True, score=None, decided_at=hour),
        entry(decision="decline", latency_ms=5000.0, decided_at=hour + timedelta(hours=1)),
        entry(decision="approve", environment="staging", decided_at=hour),
    ]
    for item in made:
        log.append(item)
    assert log.flush() == 5
    rows = {(r.environment, r.hour): r for r in aggregates(store)}
    assert set(rows) == {
        (UNRECORDED_ENVIRONMENT, hour),
        (UNRECORDED_ENVIRONMENT, hour + timedelta(hours=1)),
        ("staging", hour),
    }
    first = rows[UNRECORDED_ENVIRONMENT, hour]
    assert (first.n, first.outcomes, first.fallbacks) == (3, {"approve": 2, "refer": 1}, 1)
    expected = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for latency in (0.4, 0.9, 3.0):
        expected[int(np.searchsorted(LATENCY_BUCKETS_MS, latency))] += 1
    assert first.latency == expected
    late = rows[UNRECORDED_ENVIRONMENT, hour + timedelta(hours=1)]
    assert late.latency[-1] == 1
    assert late.outcomes == {"decline": 1}
    assert {r.batch_id for r in rows.values()} == {first.batch_id}
    # No profile for this version: the decision layer only, said so by the missing digest.
    assert all(r.profile_sha256 is None and r.counts is None for r in rows.values())


def test_a_replayed_batch_is_not_aggregated_twice(
    make_log: Callable[..., DecisionLog], store: Store, tmp_path: Path
) -> None:
    log = make_log(start=False)
    for _ in range(20):
        log.append(entry(decision="approve"))
    log.close()
    shutil.copytree(tmp_path / "wal", tmp_path / "wal-before")
    assert make_log(start=False).flush() == 20
    # The crash: the batch and its aggregates committed, the checkpoint never reached the disk.
    shutil.rmtree(tmp_path / "wal")
    (tmp_path / "wal-before").rename(tmp_path / "wal")
    assert make_log(start=False).flush() == 20
    rows = aggregates(store)
    assert [(r.n, r.outcomes) for r in rows] == [(20, {"approve": 20})]
    # And the unique key refuses a second row for the same batch and window.
    again = {c.name: getattr(rows[0], c.name) for c in table_of(MonitoringAggregateRecord).c}
    del again["id"]
    with pytest.raises(IntegrityError, match=r"(?i)unique"), store.transaction() as session:
        session.execute(sqlalchemy.insert(table_of(MonitoringAggregateRecord)), [again])
    assert verify(store).ok


def test_segments_come_from_the_spec_and_a_value_outside_it_is_never_named(
    make_log: Callable[..., DecisionLog], store: Store
) -> None:
    spec = load_spec(CREDIT_SPEC).spec
    with_segment = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"segment": "purpose"})}
    )
    plan = plan_from_spec(with_segment, profile=None)
    calls: list[tuple[str, int]] = []

    def plans(session: Session, model: str, version: int, digest: str) -> MonitoringPlan:
        calls.append((model, version))
        return plan

    log = make_log(start=False, plans=plans, batch_size=3)
    secret_text = "Jane Doe's yacht"
    for purpose in ("car (new)", "car (new)", "business", secret_text, None):
        log.append(entry(features={**FEATURES, "purpose": purpose}))
    assert log.flush() == 5
    counted: dict[str, int] = {}
    for row in aggregates(store):
        counted[row.segment] = counted.get(row.segment, 0) + row.n
    assert counted == {"car (new)": 2, "business": 1, "unseen": 1, "missing": 1}
    assert calls == [("credit-scoring", 2)]  # once per flusher, across batches
    schema = sqlalchemy.MetaData()
    schema.reflect(bind=store.engine, only=["monitoring_aggregates"])
    with store.reading() as session:
        dump = repr(session.execute(select(schema.tables["monitoring_aggregates"])).all())
    assert "Jane" not in dump
    assert "yacht" not in dump


def test_a_segment_that_is_not_a_categorical_feature_is_refused() -> None:
    from riskops.errors import SpecError
    from riskops.spec import parse_spec

    text = CREDIT_SPEC.read_text() + "\nmonitoring: {segment: duration_in_month}\n"
    with pytest.raises(SpecError, match="not a valid model spec") as info:
        parse_spec(text)
    assert "monitoring.segment names 'duration_in_month'" in str(info.value.problems)


# -- moments -----------------------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, max_size=30), st.lists(finite, max_size=30))
def test_merged_moments_are_the_moments_of_the_union(a: list[float], b: list[float]) -> None:
    merged = merge_moments(moments_of([np.array(a)]), moments_of([np.array(b)]))[0]
    whole = np.array(a + b)
    assert merged[0] == whole.size
    if whole.size:
        scale = max(1.0, float(np.abs(whole).max()))
        assert merged[1] == pytest.approx(whole.mean(), abs=1e-9 * scale)
        m2 = float(((whole - whole.mean()) ** 2).sum())
        assert merged[2] == pytest.approx(m2, rel=1e-7, abs=1e-6 * scale**2)
        assert (merged[3], merged[4]) == (whole.min(), whole.max())
    else:
        assert np.isnan(merged[1:]).all()


def test_moments_skip_missing_values_and_leave_categorical_rows_empty() -> None:
    values = np.array([1.0, np.nan, 3.0, np.inf])
    got = moments_of([values, None])
    assert got[0].tolist() == [2.0, 2.0, 2.0, 1.0, 3.0]
    assert np.isnan(got[1]).all()


def test_a_profile_that_cannot_count_the_decisions_never_holds_up_the_log(
    make_log: Callable[..., DecisionLog], store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A profile whose features are not the decisions' (here: one feature the decisions lack)
    cannot bin them: the batch is stored and sealed all the same, with its decision-layer
    counts, and the error is logged."""
    from tests.unit.monitoring.population import reference

    info = reference()
    wrong = MonitoringPlan(features=("no_such_feature",), numeric=(True,), profile=info.profile)
    log = make_log(start=False, plans=lambda session, model, version, digest: wrong)
    for _ in range(3):
        log.append(entry())
    assert log.flush() == 3
    (row,) = aggregates(store)
    assert row.n == 3
    assert row.counts is None
    assert "feature counts of credit-scoring@2 not kept" in caplog.text
    assert verify_decisions(store).ok


def test_aggregates_and_their_replay_on_each_backend(
    store_url: str, secrets: WorkspaceSecrets, tmp_path: Path
) -> None:
    """The same flush, replay and unique key on SQLite and PostgreSQL."""
    store = open_store(store_url)
    try:
        log = DecisionLog(store, tmp_path / "wal", secrets, clock)
        for i in range(10):
            log.append(entry(decision="refer" if i % 2 else "approve", environment="production"))
        log.close()
        shutil.copytree(tmp_path / "wal", tmp_path / "wal-before")
        flushed = DecisionLog(store, tmp_path / "wal", secrets, clock)
        assert flushed.flush() == 10
        flushed.close()
        shutil.rmtree(tmp_path / "wal")
        (tmp_path / "wal-before").rename(tmp_path / "wal")
        replayed = DecisionLog(store, tmp_path / "wal", secrets, clock)
        assert replayed.flush() == 10
        replayed.close()
        rows = aggregates(store)
        assert [(r.environment, r.n, r.outcomes) for r in rows] == [
            ("production", 10, {"approve": 5, "refer": 5})
        ]
        assert verify_decisions(store).ok
    finally:
        store.dispose()
