"""The governance commands as users run them: reproduce, inventory, approve with findings,
opinion and conditions, reject and override, the findings log and conditions of approval
enforced at deployment, through the installed console script in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from riskops.store.tables import Base
from tests.conftest import REPO, reference_split

RISKOPS = str(Path(sys.executable).parent / "riskops")

pytestmark = pytest.mark.slow


def run(*args: str, home: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKOPS_", "MLFLOW_"))}
    env["RISKOPS_HOME"] = str(home)
    done = subprocess.run(
        [RISKOPS, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def table_rows(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    engine = sqlalchemy.create_engine(f"sqlite:///{home / 'riskops.db'}")
    rows = {}
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            rows[table.name] = [tuple(r) for r in c.execute(sqlalchemy.select(table))]
    engine.dispose()
    return rows


def test_reproduce_inventory_signoff_reject_and_refusals(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run("demo", "--spec", "models/credit_scoring/model.yaml", home=home)

    reproduced = run("reproduce", "credit-scoring@1", "--as", "victor", home=home)
    assert "credit-scoring@1 reproduced" in reproduced.stdout
    assert "matches bit-for-bit" in reproduced.stdout
    training_rows = len(reference_split().train)
    assert f"Retraining with trainer.py:fit_lightgbm on {training_rows} rows" in reproduced.stderr
    as_json = json.loads(run("reproduce", "credit-scoring@2", "--json", home=home).stdout)
    assert as_json["verdict"] == "bit-for-bit"
    assert as_json["max_abs_difference"] == 0.0

    inventory = json.loads(run("inventory", "--json", home=home).stdout)
    [entry] = inventory["models"]
    assert entry["model"] == "credit-scoring"
    assert (entry["risk_tier"], entry["review_months"]) == ("high", 12)
    assert (entry["production_version"], entry["state"]) == (1, "approved")
    validated_on = datetime.fromisoformat(entry["last_validation"]).date()
    assert date.fromisoformat(entry["next_review"]) == validated_on.replace(
        year=validated_on.year + 1
    )
    assert entry["overdue"] is False
    assert inventory["overdue"] == []
    assert "credit-scoring" in run("inventory", home=home).stdout

    run("train", "models/credit_scoring/model.yaml", "--as", "alice", home=home)
    run("validate", "credit-scoring@3", "--as", "victor", home=home)

    def refused(*args: str, says: str) -> None:
        before = table_rows(home)
        done = run(*args, home=home, check=2)
        assert says in done.stderr
        assert "Hint:" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert table_rows(home) == before

    refused("reject", "credit-scoring@3", "--as", "rita", says="needs a reason")
    refused(
        "reject",
        "credit-scoring@3",
        "--as",
        "oscar",
        "--reason",
        "not convinced",
        says="oscar (operator) cannot reject credit-scoring@3",
    )
    refused(
        "override",
        "credit-scoring@3",
        "--gate",
        "performance.auc",
        "--justification",
        "looks fine",
        "--as",
        "rita",
        says="a written justification of at least 20",
    )
    refused(
        "override",
        "credit-scoring@3",
        "--gate",
        "performance.auc",
        "--justification",
        "The validation sample is too small to judge this gate.",
        "--as",
        "rita",
        says="it is 'validated' (no blocking gate stops it)",
    )

    refused(
        "approve",
        "credit-scoring@3",
        "--as",
        "victor",
        says="victor's sign-off of credit-scoring@3 needs a written opinion",
    )
    run(
        "approve",
        "credit-scoring@3",
        "--as",
        "victor",
        "--opinion",
        "Fit for use; the failed advisory gates are tracked as findings.",
        "--findings",
        "Same params as v1; gates reviewed.",
        "--condition",
        "monitor PSI monthly",
        "--condition",
        "revalidate within 6 months",
        home=home,
    )
    rejected = run(
        "reject",
        "credit-scoring@3",
        "--as",
        "rita",
        "--reason",
        "Adds nothing over the production version.",
        home=home,
    )
    assert "rita rejected credit-scoring@3 as risk_officer; it is rejected." in rejected.stdout
    shown = json.loads(run("show", "credit-scoring@3", "--json", home=home).stdout)
    assert shown["state"] == "rejected"
    signoff, rejection = shown["approvals"]
    assert signoff["findings"] == "Same params as v1; gates reviewed."
    assert signoff["conditions"] == ["monitor PSI monthly", "revalidate within 6 months"]
    assert (rejection["decision"], rejection["note"]) == (
        "reject",
        "Adds nothing over the production version.",
    )
    refused(
        "override",
        "credit-scoring@3",
        "--gate",
        "performance.auc",
        "--justification",
        "The validation sample is too small to judge this gate.",
        "--as",
        "rita",
        says="A person's rejection cannot be overridden",
    )
    log = json.loads(run("audit", "log", "--model", "credit-scoring@3", "--json", home=home).stdout)
    assert [e["action"] for e in log][-4:] == [
        "version.signed_off",
        "condition.set",  # each condition is a record, free text ones too (not blocking)
        "condition.set",
        "version.rejected",
    ]
    events = len(json.loads(run("audit", "log", "--json", home=home).stdout))
    assert f"audit chain verified: {events} events" in run("audit", "verify", home=home).stdout

    for command in ("reject", "override", "inventory", "reproduce", "findings", "condition"):
        assert command in run("--help", home=home).stdout
        assert "Example: riskops" in run(command, "--help", home=home).stdout


def test_findings_log_and_conditions_of_approval_enforced_at_deployment(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run("demo", "--spec", "models/credit_scoring/model.yaml", home=home)

    # The demo's validator raised one finding per failed gate of v1, owned by alice, and met
    # its condition "monitoring live before production" before v1 was deployed.
    shown = json.loads(run("show", "credit-scoring@1", "--json", home=home).stdout)
    failed = [g["gate"] for g in shown["gates"] if g["status"] == "failed"]
    assert failed
    listed = json.loads(run("findings", "list", "credit-scoring@1", "--json", home=home).stdout)
    assert [(f["gate"], f["owner"], f["status"]) for f in listed["findings"]] == [
        (gate, "alice", "open") for gate in failed
    ]
    assert [f["gate"] for f in shown["findings_log"]] == failed
    [validator, _] = shown["approvals"]
    assert all(gate in validator["opinion"] for gate in failed)
    [live] = shown["conditions"]
    assert (live["kind"], live["blocking"], live["status"]) == (
        "monitoring_live",
        True,
        "satisfied",
    )
    first = listed["findings"][0]["id"]
    denied = run(
        "findings",
        "update",
        str(first),
        "--status",
        "remediated",
        "--note",
        "x",
        "--as",
        "oscar",
        home=home,
        check=2,
    )
    assert "Only the owner of finding" in denied.stderr
    run(
        "findings",
        "update",
        str(first),
        "--status",
        "remediated",
        "--note",
        "Reweighted.",
        "--as",
        "alice",
        home=home,
    )
    added = json.loads(
        run(
            "findings",
            "add",
            "credit-scoring@1",
            "--severity",
            "low",
            "--owner",
            "alice",
            "--due",
            "2027-06-30",
            "--text",
            "Document the split.",
            "--as",
            "victor",
            "--json",
            home=home,
        ).stdout
    )
    assert (added["severity"], added["status"], added["gate"]) == ("low", "open", None)
    table = run("findings", "list", "credit-scoring", home=home).stdout
    assert "remediated" in table
    assert "Document the split." in table
    inventory = json.loads(run("inventory", "--json", home=home).stdout)
    assert inventory["models"][0]["open_findings"] == len(failed) + 1

    run("train", "models/credit_scoring/model.yaml", "--as", "alice", home=home)
    run("validate", "credit-scoring@3", "--as", "victor", home=home)
    run(
        "approve",
        "credit-scoring@3",
        "--as",
        "victor",
        "--opinion",
        "Fit for use once the refer band is reviewed and monitoring runs.",
        "--require",
        "monitoring_live",
        "--blocking-condition",
        "Refer band reviewed by the credit committee",
        "--condition",
        "monitor PSI monthly",
        home=home,
    )
    run("approve", "credit-scoring@3", "--as", "rita", home=home)
    conditions = json.loads(
        run("condition", "list", "credit-scoring@3", "--json", home=home).stdout
    )["conditions"]
    assert [(c["kind"], c["blocking"], c["status"]) for c in conditions] == [
        ("manual", False, "open"),
        ("manual", True, "open"),
        ("monitoring_live", True, "open"),
    ]
    manual = conditions[1]["id"]
    deploy = ("deploy", "credit-scoring@3", "--env", "production", "--as", "oscar")
    blocked = run(*deploy, home=home, check=2)
    assert "2 blocking condition(s) of its approval still open" in blocked.stderr
    assert "riskops monitor run credit-scoring --env production" in blocked.stderr
    run("monitor", "run", "credit-scoring", "--env", "production", home=home)
    blocked = run(*deploy, home=home, check=2)
    assert "1 blocking condition(s) of its approval still open" in blocked.stderr
    assert f"riskops condition close {manual}" in blocked.stderr
    closed = run(
        "condition",
        "close",
        str(manual),
        "--evidence",
        "Credit committee minutes 2026-14, item 3.",
        "--as",
        "rita",
        home=home,
    )
    assert "is satisfied" in closed.stdout
    run(*deploy, home=home)
    after = json.loads(run("condition", "list", "credit-scoring@3", "--json", home=home).stdout)
    assert [c["status"] for c in after["conditions"]] == ["open", "satisfied", "satisfied"]
    log = json.loads(run("audit", "log", "--model", "credit-scoring@3", "--json", home=home).stdout)
    assert [e["action"] for e in log if e["action"].startswith("condition.")] == [
        "condition.set",
        "condition.set",
        "condition.set",
        "condition.satisfied",
        "condition.satisfied",
    ]
