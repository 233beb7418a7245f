"""Decision receipts: a served decision proven into a signed checkpoint, and checked offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskops.audit.merkle import ProofError, leaf_hash, verify_inclusion
from riskops.audit.note import Checkpoint, Verifier, open_note
from riskops.context import Context
from riskops.decisions.log import DecisionLog
from riskops.decisions.receipts import RECEIPT_FORMAT, prove_decision
from riskops.decisions.sealing import verify_decisions
from riskops.errors import NotFoundError
from tests.unit.decisions.test_decision_log import entry


@pytest.fixture
def decided(ctx: Context, tmp_path: Path) -> list[str]:
    """Seven decisions flushed and sealed through the real decision log."""
    log = DecisionLog.open(
        store=ctx.store, wal_dir=tmp_path / "wal", settings=ctx.settings, clock=ctx.clock
    )
    entries = [entry(subject=f"CUSTOMER-{i}") for i in range(7)]
    for e in entries:
        log.append(e)
    log.close()
    assert verify_decisions(ctx.store).ok
    return [e.decision_id for e in entries]


def check(receipt: dict, verifier: Verifier) -> None:
    """The receipt's chain of proofs, checked with riskops' own primitives."""
    import hashlib

    digest = hashlib.sha256(receipt["decision_json"].encode()).hexdigest()
    assert digest == receipt["decision_sha256"]
    batch = receipt["batch"]
    verify_inclusion(
        batch["index"],
        batch["count"],
        leaf_hash(bytes.fromhex(digest)),
        [bytes.fromhex(h) for h in batch["proof"]],
        bytes.fromhex(batch["root"]),
    )
    payload = json.loads(receipt["event"]["payload"])
    assert payload["merkle_root"] == batch["root"]
    assert payload["tree"] == "rfc6962"
    from riskops.audit.chain import ChainEvent
    from riskops.audit.log import event_leaf

    event = ChainEvent(**receipt["event"])
    checkpoint = Checkpoint.parse(open_note(receipt["checkpoint"], [verifier]).text)
    assert checkpoint.size == receipt["log"]["size"]
    verify_inclusion(
        receipt["log"]["index"],
        checkpoint.size,
        leaf_hash(event_leaf(event)),
        [bytes.fromhex(h) for h in receipt["log"]["proof"]],
        checkpoint.root,
    )


def test_every_decision_has_a_receipt_that_verifies(ctx: Context, decided: list[str]) -> None:
    assert ctx.settings.audit is not None
    verifier = Verifier.parse(ctx.settings.audit.verifier_keys[0])
    for decision_id in decided:
        receipt = prove_decision(ctx, decision_id)
        assert receipt["format"] == RECEIPT_FORMAT
        assert json.loads(receipt["decision_json"])["id"] == decision_id
        check(receipt, verifier)


def test_a_receipt_for_an_edited_decision_fails(ctx: Context, decided: list[str]) -> None:
    assert ctx.settings.audit is not None
    verifier = Verifier.parse(ctx.settings.audit.verifier_keys[0])
    receipt = prove_decision(ctx, decided[3])
    fields = json.loads(receipt["decision_json"])
    fields["decision"] = "approve"
    forged = dict(receipt, decision_json=json.dumps(fields, sort_keys=True, separators=(",", ":")))
    import hashlib

    forged["decision_sha256"] = hashlib.sha256(forged["decision_json"].encode()).hexdigest()
    with pytest.raises(ProofError):
        check(forged, verifier)


def test_an_unknown_decision_has_no_receipt(ctx: Context, decided: list[str]) -> None:
    with pytest.raises(NotFoundError):
        prove_decision(ctx, "00000000-0000-0000-0000-000000000000")


def test_the_cli_writes_the_receipt(ctx: Context, decided: list[str], tmp_path: Path) -> None:
    from riskops.cli.app import app

    out = tmp_path / "receipt.json"
    result = CliRunner().invoke(
        app,
        ["decisions", "prove", decided[0], "--out", str(out)],
        env={"RISKOPS_HOME": str(ctx.settings.home)},
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["decision_id"] == decided[0]
