"""``riskops keys`` as an operator runs it: the console script, in its
own process, for refusals (exit 2, what is wrong and what to do), and in process otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from riskops.context import Context

RISKOPS = str(Path(sys.executable).parent / "riskops")


def riskops(ctx: Context, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RISKOPS, *args],
        env={**os.environ, "RISKOPS_HOME": str(ctx.settings.home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_keys_create_needs_client_and_keys_list_shows_it(ctx: Context) -> None:
    from typer.testing import CliRunner

    from riskops.cli.app import app

    env = {"RISKOPS_HOME": str(ctx.settings.home)}
    runner = CliRunner()
    refused = riskops(ctx, "keys", "create", "portal", "--scope", "score", "--as", "oscar")
    assert refused.returncode == 2, refused.stderr
    assert "An API key needs a client" in refused.stderr
    assert "--client acme-bank" in refused.stderr
    assert "Traceback" not in refused.stderr
    made = runner.invoke(
        app,
        ["keys", "create", "portal", "--client", "acme-bank", "--scope", "score", "--as", "oscar"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "of client acme-bank" in made.output
    listed = runner.invoke(app, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert '"client": "acme-bank"' in listed.output
    table = runner.invoke(app, ["keys", "list"], env={**env, "COLUMNS": "200"})
    assert "client" in table.output
    assert "acme-bank" in table.output
