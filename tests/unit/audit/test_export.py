"""The export and the standalone verifier printed in docs/audit-chain.md, run against it."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskops.audit import record
from riskops.audit.export import EXPORT_FORMAT, export_events
from riskops.store import Store, open_store
from tests.conftest import REPO

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def verifier(tmp_path: Path) -> Path:
    doc = (REPO / "docs" / "audit-chain.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    [program] = [b for b in blocks if "def verify(lines)" in b]
    path = tmp_path / "verify_audit.py"
    path.write_text(program, encoding="utf-8")
    return path


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    for i in range(6):
        with s.transaction() as session:
            record(
                session,
                actor=["alice", "rita", "Zoë"][i % 3],
                role="validator",
                action="version.approved",
                object_type="model_version",
                object_id=f"credit-scoring@{i + 1}",
                payload={"auc": 0.1 + i / 7, "note": "prüfung ok", "n": [1, 2.5, None]},
                at=T0 + timedelta(seconds=i),
            )
    yield s
    s.dispose()


def export(store: Store, path: Path) -> list[str]:
    buffer = io.StringIO()
    header = export_events(store, buffer, at=T0)
    assert header["format"] == EXPORT_FORMAT
    assert header["events"] == 6
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return buffer.getvalue().splitlines()


def check(verifier: Path, path: Path, code: int) -> str:
    done = subprocess.run(
        [sys.executable, str(verifier), str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout


def test_the_documented_verifier_accepts_a_real_export(
    store: Store, verifier: Path, tmp_path: Path
) -> None:
    lines = export(store, tmp_path / "audit.jsonl")
    assert check(verifier, tmp_path / "audit.jsonl", 0).startswith("OK: 6 events")
    first = json.loads(lines[1])
    assert isinstance(first["payload"], str)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda rows: rows[3].update(actor="mallory"), "BROKEN at event 3"),
        (
            lambda rows: rows[4].update(payload=rows[4]["payload"].replace("0.", "9.", 1)),
            "BROKEN at event 4",
        ),
        (lambda rows: rows.pop(2), "BROKEN at event 2"),
        (lambda rows: rows.insert(5, rows.pop(1)), "BROKEN at event 1"),
        (lambda rows: rows.pop(), "BROKEN: the chain ends at event 5"),
    ],
)
def test_the_documented_verifier_names_tampering(
    store: Store, verifier: Path, tmp_path: Path, tamper: object, expected: str
) -> None:
    lines = export(store, tmp_path / "audit.jsonl")
    rows = [json.loads(line) for line in lines[1:]]
    rows.insert(0, {})  # so rows[i] is event i
    tamper(rows)  # type: ignore[operator]
    rows.pop(0)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(
        "\n".join([lines[0], *(json.dumps(r, ensure_ascii=False) for r in rows)]) + "\n",
        encoding="utf-8",
    )
    assert expected in check(verifier, tampered, 1)
