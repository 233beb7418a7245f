"""``riskops db``: upgrade, check (exit 1 with the fix when behind), grants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.errors import InputError

runner = CliRunner()


def test_check_says_what_is_wrong_and_upgrade_fixes_it(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path / "ws")
    behind = runner.invoke(app, ["--home", home, "db", "check"])
    assert behind.exit_code == 1
    assert "No schema yet" in behind.output
    assert "Fix: As the owner role, run: riskops db upgrade" in behind.output

    upgraded = runner.invoke(app, ["--home", home, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "Migrated from an empty store to" in upgraded.output
    again = runner.invoke(app, ["--home", home, "db", "upgrade"])
    assert "Nothing to do: schema current" in again.output

    current = runner.invoke(app, ["--home", home, "db", "check", "--json"])
    assert current.exit_code == 0
    assert json.loads(current.output)["up_to_date"] is True


def test_grants_are_for_postgresql(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    done = runner.invoke(
        app, ["--home", str(tmp_path), "db", "grants", "--runtime-role", "riskops_runtime"]
    )
    assert isinstance(done.exception, InputError)
    assert "this store is sqlite, which has no roles" in str(done.exception)
