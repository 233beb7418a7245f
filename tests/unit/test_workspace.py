"""``riskops doctor`` on SQLite: every check ends within its timeout, creates nothing, and a
tracking file that cannot be made says why."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from riskops.config import load_settings
from riskops.workspace import createdb_command, doctor, init_workspace
from tests.conftest import PEOPLE


def _workspace(home: Path, tracking_uri: str) -> Path:
    init_workspace(home, people=PEOPLE)
    config = home / "riskops.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[riskops]\n", f'[riskops]\nmlflow_tracking_uri = "{tracking_uri}"\n', 1),
        encoding="utf-8",
    )
    return home


def test_a_new_workspace_passes_without_creating_the_tracking_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    tracking = tmp_path / "ws" / "mlflow.db"
    home = _workspace(tmp_path / "ws", f"sqlite:///{tracking}")
    checks = {c.name: c for c in doctor(load_settings(home=home))}
    assert checks["mlflow tracking"].ok, checks["mlflow tracking"].detail
    assert "no database yet: the first riskops train creates it" in checks["mlflow tracking"].detail
    assert not tracking.exists()


def test_a_tracking_file_under_a_file_fails_at_once(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    home = _workspace(tmp_path / "ws", f"sqlite:///{blocker / 'mlflow.db'}")
    checks = {c.name: c for c in doctor(load_settings(home=home))}
    tracking = checks["mlflow tracking"]
    assert not tracking.ok
    assert f"cannot be created: {blocker} is a file, not a folder" in tracking.detail
    assert checks["metadata store"].ok


def test_a_tracking_server_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    # a socket that accepts connections (the kernel's backlog) and never replies
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        home = _workspace(tmp_path / "ws", f"http://127.0.0.1:{port}")
        started = time.monotonic()
        checks = {c.name: c for c in doctor(load_settings(home=home), timeout=1.0)}
        elapsed = time.monotonic() - started
    tracking = checks["mlflow tracking"]
    assert not tracking.ok
    assert "no answer within 1 s" in tracking.detail
    assert "--timeout SECONDS" in tracking.detail
    assert elapsed < 15, elapsed  # one second per check, plus MLflow's import


def test_createdb_command_names_host_port_user_and_database() -> None:
    assert (
        createdb_command("postgresql+psycopg://mlflow:secret@db.internal:6543/mlflow")
        == "createdb -h db.internal -p 6543 -U mlflow mlflow"
    )
    assert createdb_command("postgresql+psycopg:///riskops") == "createdb riskops"
