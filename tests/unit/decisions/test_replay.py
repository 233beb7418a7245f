"""Replaying logged decisions on a real workspace: a trained, approved and deployed version,
decisions made by the scoring service the HTTP app runs (so they go through the durable
decision log into the store), then replayed through the service and the installed CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from riskops.audit import list_events, verify
from riskops.context import Context
from riskops.decisions.replay import REPLAY_ACTION, replay_decision, stored_decision
from riskops.decisions.sealing import verify_decisions
from riskops.errors import ConflictError, IntegrityError, NotFoundError, PermissionDeniedError
from riskops.privacy.keys import SubjectKeys
from riskops.privacy.secrets import load_secrets
from riskops.registry.versions import ModelRef, get_version
from riskops.serving.service import ScoringService, ServerSettings, Subject
from riskops.store.tables import DecisionRecord
from riskops.training.pipeline import train
from tests.conftest import REPO, SPEC, approve_and_deploy
from tests.insider import bypass_guards
from tests.unit.conftest import German

RISKOPS = str(Path(sys.executable).parent / "riskops")
MODEL = "credit-scoring"


@dataclass(frozen=True)
class Made:
    """One decision the service made and logged: its id, outcome and subject."""

    decision_id: str
    decision: str
    subject_id: str
    explained: bool


@pytest.fixture
def made(ctx: Context, tmp_path: Path, german: German) -> dict[str, Made]:
    """An approval, a decline and an explained approval, made by the scoring service and
    flushed to the store when it closes."""
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    service = ScoringService.open(
        ServerSettings(workspace=ctx.settings, refresh_seconds=3600, wal_dir=tmp_path / "wal")
    )
    found: dict[str, Made] = {}
    try:
        service.refresh()
        for i, features in enumerate(german.requests[:200]):
            subject = f"C-{i}"
            outcome, shadows = service.decide(MODEL, Subject(subject, features))
            assert shadows is None  # nothing shadows the champion here
            kind = outcome.decision.decision
            if kind in ("approve", "decline") and kind not in found:
                found[kind] = Made(outcome.decision_id, kind, subject, False)
                if kind == "approve":
                    again, _ = service.decide(MODEL, Subject(subject, features), explain=True)
                    found["explained"] = Made(again.decision_id, kind, subject, True)
            if len(found) == 3:
                break
    finally:
        service.close()  # drains the decision log into the store
    assert set(found) == {"approve", "decline", "explained"}
    return found


def _run(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKOPS_", "MLFLOW_"))}
    env["RISKOPS_HOME"] = str(ctx.settings.home)
    return subprocess.run(
        [RISKOPS, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_replay_matches_approvals_and_a_decline_bit_for_bit(
    ctx: Context, made: dict[str, Made]
) -> None:
    for item in made.values():
        stored = stored_decision(ctx, item.decision_id)
        assert (stored.flushed, stored.erased) == (True, False)
        assert stored.features is not None
        result = replay_decision(ctx, item.decision_id, actor="audrey")
        assert result.matches, result.differences
        assert result.score_match == "exact"
        assert result.replayed_score == stored.score
        assert result.replayed_decision == stored.decision == item.decision
        assert result.digest == stored.digest
    decline = replay_decision(ctx, made["decline"].decision_id, actor="victor")
    assert decline.reasons_compared
    assert 1 <= len(decline.stored_reasons) <= 4
    assert [r["code"] for r in decline.replayed_reasons] == [
        r["code"] for r in decline.stored_reasons
    ]
    # An approval answered without reasons has none to compare; one explained on request has.
    assert not replay_decision(ctx, made["approve"].decision_id, actor="audrey").reasons_compared
    explained = replay_decision(ctx, made["explained"].decision_id, actor="audrey")
    assert explained.reasons_compared
    assert explained.stored_reasons

    with pytest.raises(NotFoundError, match="No decision with id 'nope' in the store"):
        replay_decision(ctx, "nope", actor="audrey")
    with pytest.raises(PermissionDeniedError, match=r"alice \(developer\) cannot replay"):
        replay_decision(ctx, made["decline"].decision_id, actor="alice")

    events = list_events(ctx.store, action=REPLAY_ACTION)
    assert len(events) == 6
    assert {e.actor for e in events} == {"audrey", "victor"}
    assert events[0].payload["matches"] is True
    assert events[0].payload["digest"] == decline.digest
    assert verify(ctx.store).ok

    # An edited decision row: a last-bit change is within tolerance, a real change differs.
    target = made["decline"].decision_id
    score = stored_decision(ctx, target).score
    assert score is not None
    for edit, expected in (
        ({"score": score + 1e-15}, "within-tolerance"),
        ({"score": 0.1, "decision": "approve"}, "differs"),
    ):
        with ctx.store.transaction() as session:
            bypass_guards(session.connection(), "decisions")
            session.execute(
                update(DecisionRecord).where(DecisionRecord.id == target).values(**edit)
            )
        result = replay_decision(ctx, target, actor="audrey")
        assert result.score_match == expected
        assert result.matches is (expected == "within-tolerance")
    assert result.score_note is None
    assert not result.matches
    assert result.differences[:2] == (
        f"score: stored 0.1, replayed {score!r}",
        "decision: stored approve, replayed decline",
    )
    assert list_events(ctx.store, action=REPLAY_ACTION)[-1].payload["matches"] is False


def test_the_cli_shows_and_replays_and_refuses_after_erasure(
    ctx: Context, made: dict[str, Made]
) -> None:
    decline = made["decline"]
    shown = _run(ctx, "decisions", "show", decline.decision_id, "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    stored = stored_decision(ctx, decline.decision_id)
    assert view["reasons"] == stored.reasons
    assert view["decision"] == "decline"
    assert not {"features", "subject"} & set(view)

    replayed = _run(ctx, "decisions", "replay", decline.decision_id, "--as", "audrey", "--json")
    assert replayed.returncode == 0, replayed.stderr
    body = json.loads(replayed.stdout)
    assert body["kind"] == "riskops.decision/replay@1"
    assert (body["matches"], body["score"]["match"]) == (True, "exact")

    keys = SubjectKeys(ctx.store, load_secrets(ctx.settings), ctx.clock)
    assert keys.erase_subject(decline.subject_id, actor="oscar", role="operator")
    erased = _run(ctx, "decisions", "replay", decline.decision_id, "--as", "audrey")
    assert erased.returncode == 2
    message = " ".join(erased.stderr.split())
    assert f"The features of decision {decline.decision_id} were erased" in message
    assert "cannot be replayed" in message
    with pytest.raises(ConflictError, match=r"were erased .* so it cannot be replayed"):
        replay_decision(ctx, decline.decision_id, actor="audrey")
    # A key made for the subject later does not open the old ciphertext.
    with ctx.store.transaction() as session:
        keys.keys_for(session, [stored.subject])
    again = stored_decision(ctx, decline.decision_id)
    assert (again.erased, again.features) == (True, None)
    # What was decided and why stays on record, without the subject's input values, and
    # everything still verifies.
    assert again.reasons == [{k: v for k, v in r.items() if k != "value"} for r in view["reasons"]]
    assert all("value" in r for r in view["reasons"])
    assert len(list_events(ctx.store, action=REPLAY_ACTION)) == 1  # refusals are not replays
    assert verify(ctx.store).ok
    assert verify_decisions(ctx.store).ok


def test_a_tampered_artifact_is_refused(ctx: Context, made: dict[str, Made]) -> None:
    with ctx.store.reading() as session:
        run_id = get_version(session, ModelRef(MODEL, 1)).mlflow_run_id
    files = [
        p for p in (Path(ctx.settings.home) / "mlartifacts").rglob("model.lgb") if run_id in str(p)
    ]
    assert files
    for path in files:
        path.write_text(path.read_text().replace("learning_rate", "learning_rate ", 1))
    with pytest.raises(IntegrityError, match=r"The artifact of credit-scoring@1 has digest"):
        replay_decision(ctx, made["decline"].decision_id, actor="audrey")
    assert list_events(ctx.store, action=REPLAY_ACTION) == []
