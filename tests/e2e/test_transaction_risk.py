"""The reference transaction-risk model end to end: it trains on the shipped subset and passes
its own gates (out of time), is signed off and deployed, its history is backfilled, and one
transaction is decided over HTTP with its history features looked up in the online store,
equal to the offline values, and appended after the decision."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pandas as pd
import pytest

from riskops.context import Context
from riskops.decisions.replay import replay_decision, stored_decision
from riskops.documents.render import render_documents
from riskops.governance.approvals import approve
from riskops.governance.deployments import deploy
from riskops.history.offline import backfill, history_frame
from riskops.history.store import open_online_store
from riskops.serving.app import create_app
from riskops.serving.auth import create_key
from riskops.serving.service import ScoringService, ServerSettings
from riskops.spec import load_spec
from riskops.training.pipeline import train
from riskops.validation.run import validate
from tests.conftest import OPINION, REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

SPEC = REPO / "models" / "transaction_risk" / "model.yaml"
URL = "/v1/models/transaction-risk/decisions"


def test_reference_model_trains_passes_its_gates_and_serves_with_history(
    ctx: Context, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    ref = train(ctx, SPEC, actor="alice").ref
    run = validate(ctx, ref, actor="victor")
    results = {r.gate: r for r in run.results}
    assert run.passed, [name for name, r in results.items() if r.blocks]
    assert results["performance.auc"].value > 0.8  # on the test partition: the latest 15%
    # the back-test follows the test partition week by week, and the report shows each week
    backtest = results["backtest.auc_by_period"]
    assert backtest.status == "reported"
    periods = backtest.evidence["periods"]
    assert sum(p["rows"] for p in periods) == results["performance.auc"].evidence["rows"]
    assert sum(p["events"] for p in periods) == results["performance.auc"].evidence["events"]
    assert [p["period"] for p in periods] == sorted(p["period"] for p in periods)
    assert backtest.value == min(p["auc"] for p in periods if p["auc"] is not None)
    report = next(
        p
        for p in render_documents(ctx, ref, tmp_path / "docs", formats=("md",))
        if p.name.endswith("validation-report.md")
    ).read_text(encoding="utf-8")
    assert "### Out-of-time back-test" in report
    for p in periods:
        assert f"| {p['period']} | {p['rows']} | {p['events']} |" in report
    approve(ctx, ref, actor="victor", opinion=OPINION)
    approve(ctx, ref, actor="rita")
    deploy(ctx, ref, environment="production", actor="oscar")

    # The history: every transaction of the subset, backfilled; then a new one is decided.
    loaded = load_spec(SPEC)
    frame = pd.read_csv(loaded.resolve(loaded.spec.data.source), dtype="string")
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    store = open_online_store(url)
    assert backfill(store, loaded) == (len(frame), len(frame))
    store.close()
    last = frame.iloc[-1]
    new = last.copy()
    new["TRANSACTION_ID"], new["TX_AMOUNT"], new["TX_FRAUD"] = "new-1", "250.00", "0"
    new["TX_DATETIME"] = "2018-06-30 23:59:59"
    expected = history_frame(pd.concat([frame, new.to_frame().T]), loaded.spec, source="subset")
    expected_row = expected.iloc[-1].to_dict()
    request = {
        "TRANSACTION_ID": "new-1",
        "TX_DATETIME": "2018-06-30T23:59:59+00:00",
        "CUSTOMER_ID": int(last["CUSTOMER_ID"]),
        "TERMINAL_ID": last["TERMINAL_ID"],
        "TX_AMOUNT": 250.0,
    }

    key = create_key(ctx, "shop", client="acme", scopes=["score", "read_decisions"], actor="oscar")
    workspace = dataclasses.replace(ctx.settings, history_store_url=url)
    app = create_app(ServerSettings(workspace=workspace, refresh_seconds=3600))
    with TestClient(app, raise_server_exceptions=False) as client:
        service: ScoringService = app.state.service
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.05)
        client.headers["Authorization"] = f"Bearer {key.token}"
        answer = client.post(URL, json={"subject_id": "card-1", "features": request})
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        assert 0.0 <= body["score"] <= 1.0
        assert body["fallback"] is False
        assert expected_row["customer_tx_count_30d"] > 0

        # The decided transaction joined the history (it is not appended twice), and its label
        # can be recorded when it arrives.
        (lookup,) = service._lookups.values()
        assert not lookup.record(lookup.transaction(request))
        assert lookup.store.label("transaction-risk", "new-1", fraud=True)

        refused = client.post(
            URL,
            json={
                "subject_id": "card-1",
                "features": {**request, "TX_DATETIME": "soon", "customer_tx_count_1d": 3},
            },
        )
        assert refused.status_code == 422
        problems = {p["field"]: p["message"] for p in refused.json()["problems"]}
        assert "not an ISO 8601 time" in problems["TX_DATETIME"]
        assert "computed by the server" in problems["customer_tx_count_1d"]

        # A batch: each transaction looked up and appended; a bad one is named by position.
        later = [
            {**request, "TRANSACTION_ID": f"new-{k}", "TX_DATETIME": f"2018-07-01 00:0{k}:00"}
            for k in (2, 3)
        ]
        batch = client.post(
            URL + ":batch",
            json={"subjects": [{"subject_id": "card-1", "features": f} for f in later]},
        )
        assert batch.status_code == 200, batch.json()
        assert len(batch.json()["decisions"]) == 2
        assert not lookup.record(lookup.transaction(later[1]))  # appended by the batch
        bad = client.post(
            URL + ":batch",
            json={
                "subjects": [
                    {"subject_id": "card-1", "features": later[0]},
                    {"subject_id": "card-1", "features": {**later[1], "CUSTOMER_ID": None}},
                ]
            },
        )
        assert bad.status_code == 422
        assert [p["field"] for p in bad.json()["problems"]] == ["subjects[1].CUSTOMER_ID"]

    # The log keeps what the model decided on (history features included, the ids and time
    # not), so the decision replays exactly without the online store.
    stored = stored_decision(ctx, body["decision_id"])
    assert stored.features == {**expected_row, "TX_AMOUNT": 250.0}
    replayed = replay_decision(ctx, body["decision_id"], actor="audrey")
    assert replayed.matches, replayed.differences
