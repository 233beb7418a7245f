"""The ``riskops`` command as users run it: the installed console script, in its own process."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from riskops.store.tables import Base
from riskops.workspace import config_text
from tests.conftest import PEOPLE, REPO, SPEC

RISKOPS = str(Path(sys.executable).parent / "riskops")

pytestmark = pytest.mark.slow


def run(
    *args: str, home: Path, cwd: Path | None = None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RISKOPS_", "MLFLOW_")) or k == "RISKOPS_TEST_POSTGRES_URL"
    }
    env["RISKOPS_HOME"] = str(home)
    done = subprocess.run(
        [RISKOPS, *args], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=300
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


def mlflow_versions(home: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "mlflow.db") as c:
        return c.execute("SELECT name, version FROM model_versions ORDER BY version").fetchall()


def test_demo_then_every_command_works_on_what_it_made(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    demo = run("demo", home=home)
    out = demo.stdout
    assert "credit-scoring@1" in out
    assert "credit-scoring@2" in out
    assert "rollback" in out
    assert "credit-scoring production history: v1 → v2 → v1" in out
    # The three kinds, each answered once over HTTP, and one batch job.
    for served in (
        r"credit-scoring@1 +│ credit +│ applicant-0001 +│ decline",
        r"fraud-detection@1 +│ fraud +│ payment-0001 +│ review",
        r"transaction-risk@1 +│ transaction_risk +│ card-\d+ +│ block",
    ):
        assert re.search(served, out), out
    assert "batch job: 1,000 rows scored by credit-scoring@1 (0 rejected)" in out
    events = len(json.loads(run("audit", "log", "--json", home=home).stdout))
    assert f"audit chain verified: {events} events" in out
    assert str(home / "riskops.db") in out
    assert str(home / "mlflow.db") in out

    models = json.loads(run("models", "--json", home=home).stdout)
    assert sorted(m["name"] for m in models) == [
        "credit-scoring",
        "fraud-detection",
        "transaction-risk",
    ]
    [model] = [m for m in models if m["name"] == "credit-scoring"]
    assert model["serving"] == {"staging": None, "production": 1}
    assert [v["state"] for v in model["versions"]] == ["approved", "approved"]
    assert [len(v["approvals"]) for v in model["versions"]] == [2, 2]

    shown = json.loads(run("show", "credit-scoring", "--json", home=home).stdout)
    deploy_v1, deploy_v2, rolled = (datetime.fromisoformat(d["at"]) for d in shown["deployments"])
    assert [d["action"] for d in shown["deployments"]] == ["deploy", "deploy", "rollback"]

    def serving_at(moment: datetime) -> Any:
        text = moment.isoformat().replace("+00:00", "Z")
        at = json.loads(run("show", "credit-scoring", "--at", text, "--json", home=home).stdout)
        return at["serving"]["production"]

    assert serving_at(deploy_v1 - timedelta(seconds=1)) is None
    assert serving_at(deploy_v2) == 2
    assert serving_at(rolled) == 1
    human = run("show", "credit-scoring", "--at", deploy_v2.isoformat(), home=home).stdout
    assert "production: v2" in human

    one = json.loads(run("show", "credit-scoring@2", "--json", home=home).stdout)
    assert one["lineage"]["data_fingerprint"].startswith("sha256:2c0bae00")

    assert f"audit chain verified: {events} events" in run("audit", "verify", home=home).stdout
    log = json.loads(run("audit", "log", "--model", "credit-scoring@2", "--json", home=home).stdout)
    # One finding per failed gate, the condition "monitoring live before production" set at the
    # validator's sign-off and met when the version was deployed.
    failed = [g["gate"] for g in one["gates"] if g["status"] == "failed"]
    assert [e["action"] for e in log] == [
        "version.registered",
        "validation.completed",
        *["finding.raised"] * len(failed),
        "version.signed_off",
        "condition.set",
        "version.approved",
        "condition.satisfied",
        "deployment.deployed",
    ]
    rollbacks = json.loads(
        run("audit", "log", "--action", "deployment.rolled", "--json", home=home).stdout
    )
    assert [e["object_id"] for e in rollbacks] == ["credit-scoring@1"]

    again = run("demo", home=home, check=2)
    assert "is not empty" in again.stderr
    assert "--reset" in again.stderr


def test_editing_one_audit_row_by_hand_is_named_by_verify(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run("demo", "--spec", "models/credit_scoring/model.yaml", home=home)
    anchor = run("audit", "head", home=home).stdout.split()
    # the lifecycle events (findings and conditions included), the demo client's key, its
    # decision's sealed batch, the batch job: the head is the last of them
    events = json.loads(run("audit", "log", "--json", home=home).stdout)
    assert anchor[0] == str(len(events))
    assert {"finding.raised", "condition.set", "condition.satisfied"} <= {
        e["action"] for e in events
    }
    run("audit", "verify", "--expect-head", anchor[1], home=home)
    rewritten = run("audit", "verify", "--expect-head", "ab" * 32, home=home, check=1)
    assert "no longer in the chain" in rewritten.stdout
    exported = tmp_path / "audit.jsonl"
    run("audit", "export", "--out", str(exported), home=home)
    assert len(exported.read_text(encoding="utf-8").splitlines()) == len(events) + 1
    with sqlite3.connect(home / "riskops.db") as db:
        # What a tamperer with file access would do: drop the guard, then edit one row.
        db.execute("DROP TRIGGER audit_events_no_update")
        db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4")
    broken = run("audit", "verify", home=home, check=1)
    assert "audit chain BROKEN at event 4" in broken.stdout
    assert "event 4 was altered" in broken.stdout
    report = json.loads(run("audit", "verify", "--json", home=home, check=1).stdout)
    assert report["first_broken_seq"] == 4
    assert report["events"] == 3


def test_refusals_exit_2_say_what_to_do_and_change_nothing(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run("init", home=home)
    (home / "riskops.toml").write_text(config_text(PEOPLE), encoding="utf-8")
    trained = json.loads(run("train", str(SPEC), "--as", "dana", "--json", home=home).stdout)
    assert trained["model"] == "credit-scoring@1"
    assert trained["state"] == "candidate"

    def refused(*args: str, says: str) -> None:
        before, versions = table_rows(home), mlflow_versions(home)
        done = run(*args, home=home, check=2)
        assert says in done.stderr
        assert "Hint:" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        assert table_rows(home) == before
        assert mlflow_versions(home) == versions

    refused(
        "deploy",
        "credit-scoring@1",
        "--env",
        "production",
        "--as",
        "oscar",
        says="Cannot deploy credit-scoring@1: it is 'candidate', not 'approved'",
    )
    run("validate", "credit-scoring@1", "--as", "victor", home=home)
    refused(
        "approve",
        "credit-scoring@1",
        "--as",
        "dana",
        says="dana trained credit-scoring@1, so cannot sign it off",
    )

    bad_spec = tmp_path / "bad" / "model.yaml"
    bad_spec.parent.mkdir()
    bad_spec.write_text(
        SPEC.read_text(encoding="utf-8").replace("risk_tier: high", "risk_tier: extreme"),
        encoding="utf-8",
    )
    refused(
        "train",
        str(bad_spec),
        "--as",
        "dana",
        says="risk_tier: Input should be 'high', 'medium' or 'low'",
    )

    bad_data = tmp_path / "bad_data" / "model.yaml"
    bad_data.parent.mkdir()
    (bad_data.parent / "trainer.py").write_text(
        (SPEC.parent / "trainer.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    csv = tmp_path / "bad_data" / "credit.csv"
    lines = (REPO / "data/german_credit/german_credit.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(",12,", ",twelve,", 1)
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad_data.write_text(
        SPEC.read_text(encoding="utf-8").replace(
            "source: ../../data/german_credit/german_credit.csv", f"source: {csv}"
        ),
        encoding="utf-8",
    )
    refused(
        "train",
        str(bad_data),
        "--as",
        "dana",
        says="duration_in_month: 1 value(s) are not numbers ('twelve'; rows 3)",
    )

    refused("validate", "credit-scoring", "--as", "victor", says="is not a model version reference")
    refused("show", "credit-scoring", "--at", "yesterday", says="--at 'yesterday' is not a time")
    refused("show", "fraud-detection", says="No model named 'fraud-detection'")
    refused("deploy", "credit-scoring@1", "--as", "", says="needs the name of who does it")
    refused("serve", "--flusher", "cron", says="--flusher 'cron'; valid values are")
    refused("serve", "--model-timeout-ms", "-5", says="Server limits must be positive")
    refused("serve", "--workers", "0", says="--workers 0: give a number of worker processes")

    as_json = run("approve", "credit-scoring@1", "--as", "dana", "--json", home=home, check=2)
    error = json.loads(as_json.stderr)["error"]
    assert error["type"] == "PermissionDeniedError"
    assert error["exit_code"] == 2
    assert "riskops approve credit-scoring@1 --as <validator>" in error["hint"]


def test_init_doctor_and_help(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    run("init", home=home)
    assert (home / "riskops.toml").is_file()
    assert "already exists" in run("init", home=home, check=2).stderr
    run("init", "--force", home=home)

    (home / "riskops.toml").write_text(config_text(PEOPLE), encoding="utf-8")
    checks = json.loads(run("doctor", "--json", home=home).stdout)
    assert {c["name"]: c["ok"] for c in checks} == {
        "configuration": True,
        "metadata store": True,
        "mlflow tracking": True,
        "artifact store": True,
        "people": True,
        "git": True,
    }
    (home / "riskops.toml").write_text(
        '[riskops]\ndatabase_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n',
        encoding="utf-8",
    )
    down = run("doctor", home=home, check=1)
    assert "metadata store" in down.stdout
    assert "no" in down.stdout

    top = run("--help", home=home).stdout
    for command in (
        "init",
        "doctor",
        "demo",
        "train",
        "validate",
        "approve",
        "deploy",
        "rollback",
        "models",
        "show",
        "audit",
        "spec",
    ):
        assert command in top
    for command in (
        ["init"],
        ["doctor"],
        ["demo"],
        ["train"],
        ["validate"],
        ["approve"],
        ["deploy"],
        ["rollback"],
        ["models"],
        ["show"],
        ["audit", "verify"],
        ["audit", "log"],
        ["audit", "head"],
        ["audit", "export"],
        ["spec", "check"],
        ["spec", "init"],
    ):
        text = run(*command, "--help", home=home).stdout
        assert "Example: riskops" in text, command
    assert run("nonsense", home=home, check=2).returncode == 2


def test_spec_check_reports_a_good_spec_and_its_data(tmp_path: Path) -> None:
    done = run("spec", "check", str(SPEC), home=tmp_path / "ws")
    assert (
        "valid spec for credit-scoring (17 features); its data matches (1000 rows)" in done.stdout
    )
