"""``riskops keys`` and ``riskops serve`` as an operator runs them: the console script, in its
own process, for refusals (exit 2, what is wrong and what to do), and in process otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskops.cli.app import app
from riskops.context import Context
from riskops.errors import InputError

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


def test_serve_refuses_bad_limits_and_ports_before_it_starts(ctx: Context) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = str(taken.getsockname()[1])
        for args, message in (
            (["--max-reads", "0"], "--max-reads 0: at least one decision read"),
            (["--port", "8080", "--metrics-port", "8080"], "differ from --port 8080"),
            (["--metrics-port", "70000"], "must be from 1 to 65535"),
            (["--metrics-port", busy_port], f"cannot listen on 127.0.0.1:{busy_port}"),
        ):
            refused = riskops(ctx, "serve", *args)
            assert refused.returncode == 2, (args, refused.stderr)
            assert message in " ".join(refused.stderr.split()), refused.stderr
            assert "Hint:" in refused.stderr
            assert "Traceback" not in refused.stderr


def test_serve_documents_its_new_options(ctx: Context) -> None:
    shown = riskops(ctx, "serve", "--help")
    for option in ("--max-reads", "--metrics-port", "--no-docs"):
        assert option in shown.stdout


@pytest.mark.parametrize("workers", ["0", "65"])
def test_a_worker_count_out_of_range_is_refused(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, workers: str
) -> None:
    done = CliRunner().invoke(app, ["--home", str(tmp_path), "serve", "--workers", workers])
    assert isinstance(done.exception, InputError)
    assert f"--workers {workers}: give a number of worker processes from 1 to 64" in str(
        done.exception
    )
