"""The checkpointer and the ``[audit]`` table, as an operator meets them: wrong settings named
with the fix, an anchor that fails while the business commit stands, two processes racing to
checkpoint one store, and the commands refusing what they cannot do."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from riskops.audit.log import Checkpointer, install_checkpointing, make_checkpointer, verifiers_of
from riskops.audit.note import write_key_file
from riskops.audit.trail import record
from riskops.audit.verification import STATUS_ANCHORED, verify_audit
from riskops.config import AuditSettings, load_settings
from riskops.errors import ConfigError, ConflictError, InputError
from riskops.store import Store, open_store
from riskops.store.tables import AuditCheckpointRecord

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ORIGIN = "bank.example/riskops/test"
runner = CliRunner()


def _config(home: Path, audit: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "riskops.toml").write_text(audit, encoding="utf-8")


@pytest.mark.parametrize(
    ("table", "message", "hint"),
    [
        ('[audit]\norgin = "x"\n', "unknown key(s) ['orgin'] in [audit]", "docs/anchors.md"),
        ('[audit]\norigin = "a+b"\n', "origin must be one line of text without '+'", "origin ="),
        ("[audit]\nverifier_keys = 'k'\n", "verifier_keys must be a list", "keygen"),
        ("[audit]\nanchors = 3\n", "anchors must be a list of tables", "[[audit.anchors]]"),
        ("[audit]\nquorum = 0\n", "quorum must be a whole number of at least 1", "quorum = 1"),
        ("[audit]\nquorum = 1.5\n", "quorum must be a whole number", "quorum = 1"),
        (
            "[audit]\ncheckpoint_every_seconds = -1\n",
            "checkpoint_every_seconds must be a number of at least 0.01",
            "checkpoint_every_seconds = 300",
        ),
        ("[audit]\nalso_sign_with = 'old.key'\n", "also_sign_with must be a list", "rotating"),
        ("audit = 3\n", "[audit] must be a table", "[audit]"),
    ],
)
def test_a_wrong_audit_table_is_named_with_the_fix(
    tmp_path: Path, table: str, message: str, hint: str
) -> None:
    _config(tmp_path, table)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, home=tmp_path)
    assert message in str(caught.value)
    assert hint in (caught.value.hint or "")


def test_a_malformed_pinned_key_is_named(tmp_path: Path) -> None:
    settings = AuditSettings(base=tmp_path, origin=ORIGIN, verifier_keys=("not+a+key",))
    with pytest.raises(ConfigError, match="not a verifier key") as caught:
        verifiers_of(settings)
    assert "keygen" in (caught.value.hint or "")


def _settings(tmp_path: Path, *anchors: dict[str, object], quorum: int = 1) -> AuditSettings:
    signer = write_key_file(tmp_path / "audit.key", ORIGIN)
    return AuditSettings(
        base=tmp_path,
        origin=ORIGIN,
        signing_key_file=tmp_path / "audit.key",
        verifier_keys=(signer.verifier().text(),),
        anchors=anchors,
        quorum=quorum,
        max_age_seconds=10**9,
    )


def _append(store: Store, n: int) -> None:
    for i in range(n):
        with store.transaction() as session:
            record(
                session,
                actor="oscar",
                role="operator",
                action="monitoring.run",
                object_type="monitoring_run",
                object_id=f"run-{i}",
                payload={"i": i},
                at=T0,
            )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failing_anchor_never_undoes_the_commit_and_is_recorded(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        {"type": "webhook", "url": f"http://127.0.0.1:{_closed_port()}/anchor"},
        {"type": "file", "path": "anchors/checkpoints.jsonl"},
    )
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    install_checkpointing(store, settings, lambda: T0)
    _append(store, 2)  # the first commit makes the first checkpoint
    with store.reading() as session:
        [made] = session.query(AuditCheckpointRecord).all()
        assert session.scalar(text("SELECT count(*) FROM audit_events")) == 2
    assert made.anchored == ["file:" + str(tmp_path / "anchors" / "checkpoints.jsonl")]
    [(failed, why)] = made.failures.items()
    assert failed.startswith("webhook:")
    assert why
    assert verify_audit(store, settings).status == STATUS_ANCHORED
    store.dispose()


def test_two_checkpointers_racing_make_each_checkpoint_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"type": "file", "path": "anchors/checkpoints.jsonl"})
    url = f"sqlite:///{tmp_path / 'store.db'}"
    writer = open_store(url)
    _append(writer, 20)
    stores = [open_store(url) for _ in range(2)]
    checkpointers = [make_checkpointer(s, settings, lambda: T0) for s in stores]
    assert all(isinstance(c, Checkpointer) for c in checkpointers)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def race(checkpointer: Checkpointer) -> None:
        barrier.wait()
        try:
            checkpointer.checkpoint("race")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(c,)) for c in checkpointers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with writer.reading() as session:
        sizes = [r.size for r in session.query(AuditCheckpointRecord).all()]
    assert sizes == [20]
    report = verify_audit(writer, settings)
    assert report.status == STATUS_ANCHORED, report.problems
    assert [c.size for c in report.checkpoints] == [20]
    for s in (writer, *stores):
        s.dispose()


def test_checkpoint_without_a_key_and_a_bundle_into_a_used_folder_are_refused(
    tmp_path: Path,
) -> None:
    from riskops.cli.app import app

    home = tmp_path / "ws"
    _config(home, '[riskops]\nenvironments = ["production"]\n')
    refused = runner.invoke(app, ["--home", str(home), "audit", "checkpoint"])
    assert isinstance(refused.exception, ConfigError)
    assert "no audit signing key" in str(refused.exception)
    assert "riskops audit keygen" in (refused.exception.hint or "")
    used = tmp_path / "exam"
    used.mkdir()
    (used / "keep.txt").write_text("mine", encoding="utf-8")
    bundle = runner.invoke(app, ["--home", str(home), "audit", "export", "--bundle", str(used)])
    assert isinstance(bundle.exception, ConflictError)
    assert "is not empty" in str(bundle.exception)
    assert (used / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    from riskops.cli.app import app

    key = tmp_path / "audit.key"
    made = runner.invoke(app, ["audit", "keygen", "--origin", ORIGIN, "--out", str(key)])
    assert made.exit_code == 0, made.output
    assert "verifier_keys = [" in made.output
    before = key.read_text(encoding="utf-8")
    again = runner.invoke(app, ["audit", "keygen", "--origin", ORIGIN, "--out", str(key)])
    assert isinstance(again.exception, InputError)
    assert "already exists" in str(again.exception)
    assert key.read_text(encoding="utf-8") == before
