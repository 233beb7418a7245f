"""The ``riskops`` root command: global options, sub-commands, and the error boundary.

No command shows a traceback: a RiskopsError is printed with its hint and mapped to an exit
code (``riskops.cli.errors``); anything else is an internal error, exit 1, with the traceback
only when ``RISKOPS_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated

import typer

from riskops import __version__
from riskops.cli import (
    audit,
    batch,
    db,
    decisions,
    documents,
    findings,
    flows,
    governance,
    history,
    labels,
    lifecycle,
    models,
    monitor,
    serving,
    skew,
    spec,
    witness,
    workspace,
)
from riskops.cli.errors import EXIT_FAILURE, exit_code, render
from riskops.cli.state import State
from riskops.errors import RiskopsError

app = typer.Typer(
    name="riskops",
    help="ML risk platform for regulated finance: train, validate, sign off, deploy, roll back "
    "and audit credit and fraud models.\n\nExit codes: 0 ok, 1 failure, 2 refused or bad input.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"riskops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="RISKOPS_HOME",
            help="Workspace folder (default ./.riskops).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """riskops command line."""
    ctx.obj = State(home=home)


workspace.register(app)
lifecycle.register(app)
governance.register(app)
findings.register(app)
models.register(app)
documents.register(app)
serving.register(app)
decisions.register(app)
labels.register(app)
skew.register(app)
app.add_typer(audit.app, name="audit")
app.add_typer(spec.app, name="spec")
app.add_typer(db.app, name="db")
app.add_typer(monitor.app, name="monitor")
app.add_typer(witness.app, name="witness")
app.add_typer(batch.app, name="batch")
app.add_typer(flows.app, name="flows")
app.add_typer(history.app, name="history")


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # MLflow configures its own loggers when imported; this is its documented switch.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for noisy in ("mlflow", "alembic", "urllib3", "botocore"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if not os.environ.get("RISKOPS_DEBUG"):
        warnings.filterwarnings("ignore")
    as_json = "--json" in sys.argv
    try:
        app(standalone_mode=True)
    except RiskopsError as error:
        render(error, as_json=as_json)
        sys.exit(exit_code(error))
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; nothing half-done was committed.\n")
        sys.exit(130)
    except Exception as error:
        if os.environ.get("RISKOPS_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"Internal error: {type(error).__name__}: {error}\n"
            "Hint: rerun with RISKOPS_DEBUG=1 for the traceback, and report it.\n"
        )
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
