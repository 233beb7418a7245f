"""``riskops doctor`` against the real PostgreSQL server when the riskops database and MLflow's
database do not exist: it answers within its timeout (not after MLflow's ~100 s of retries)
and names the ``createdb`` command for each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _random_name
from tests.e2e.test_cli import run

pytestmark = pytest.mark.integration


def test_missing_databases_are_named_with_their_createdb_command(
    postgres_url: str, tmp_path: Path
) -> None:
    server = make_url(postgres_url)
    riskops_db, mlflow_db = _random_name("riskops_absent"), _random_name("mlflow_absent")
    urls = {
        name: server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
        for name in (riskops_db, mlflow_db)
    }
    home = tmp_path / "ws"
    home.mkdir()
    (home / "riskops.toml").write_text(
        f'[riskops]\ndatabase_url = "{urls[riskops_db]}"\n'
        f'mlflow_tracking_uri = "{urls[mlflow_db]}"\n',
        encoding="utf-8",
    )
    started = time.monotonic()
    done = run("doctor", "--json", "--timeout", "5", home=home, check=1)
    elapsed = time.monotonic() - started
    # interpreter start and imports on a busy machine, plus at most 5 s per check
    assert elapsed < 30, elapsed
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    for part, database in (("metadata store", riskops_db), ("mlflow tracking", mlflow_db)):
        assert not checks[part]["ok"]
        assert f'database "{database}" does not exist' in checks[part]["detail"]
        options = [("-h", server.host), ("-p", server.port), ("-U", server.username)]
        command = " ".join(["createdb", *(f"{o} {v}" for o, v in options if v), database])
        assert f"Create it with: {command}" in checks[part]["detail"]


def test_a_missing_role_is_not_mistaken_for_a_missing_database(
    postgres_url: str, tmp_path: Path
) -> None:
    server = make_url(postgres_url)
    role = _random_name("nobody")
    url = server.set(drivername="postgresql+psycopg", username=role, password=None)
    home = tmp_path / "ws"
    home.mkdir()
    (home / "riskops.toml").write_text(
        f'[riskops]\ndatabase_url = "{url.render_as_string(hide_password=False)}"\n',
        encoding="utf-8",
    )
    checks = {c["name"]: c for c in json.loads(run("doctor", "--json", home=home, check=1).stdout)}
    store = checks["metadata store"]
    assert not store["ok"]
    assert f'role "{role}" does not exist' in store["detail"]
    assert "createdb" not in store["detail"]
