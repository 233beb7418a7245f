"""Workspace commands: ``init``, ``doctor`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json, progress, short
from riskops.cli.state import State
from riskops.workspace import DOCTOR_TIMEOUT, init_workspace
from riskops.workspace import doctor as run_doctor

DEFAULT_SPEC = Path("models/credit_scoring/model.yaml")
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def init(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing riskops.toml.")
    ] = False,
) -> None:
    """Create a workspace: riskops.toml in the home folder, and the store's schema.

    Example: riskops --home /srv/riskops init
    """
    state: State = ctx.obj
    settings = init_workspace(state.settings().home, force=force)
    console.print(f"Workspace ready in {settings.home}")
    console.print(
        f"  config:   {settings.home / 'riskops.toml'} (add people and roles under \\[people])"
    )
    console.print(f"  store:    {settings.database_url}")
    console.print(f"  mlflow:   {settings.mlflow_tracking_uri}")


def doctor(
    ctx: typer.Context,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds each check may take before it is reported as not answering.",
        ),
    ] = DOCTOR_TIMEOUT,
    as_json: Json = False,
) -> None:
    """Print what is configured and check that each part answers; exit 1 if one does not.

    Each check gives up after --timeout seconds. A PostgreSQL database that does not exist
    is named with the createdb command that makes it.

    Example: riskops doctor --timeout 5
    """
    state: State = ctx.obj
    checks = run_doctor(state.settings(), timeout=timeout)
    if as_json:
        print_json([c.as_dict() for c in checks])
    else:
        table = Table(title="riskops doctor", title_justify="left")
        for column in ("part", "ok", "detail"):
            table.add_column(column)
        for c in checks:
            table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]no[/red]", c.detail)
        console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_FAILURE)


def demo(
    ctx: typer.Context,
    reset: Annotated[
        bool, typer.Option("--reset", help="Replace an existing demo workspace.")
    ] = False,
    spec_path: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            help="Walk only this model (two versions and a rollback); by default the "
            "credit-scoring model, with the fraud and transaction-risk models beside it.",
        ),
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift",
            help="Then put v2 back in production, serve it with riskops serve, inject drift "
            "until an alert fires and the monitoring rule rolls it back.",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Run the whole lifecycle in a fresh workspace: train v1 of the credit-scoring model,
    validate, two sign-offs, deploy; train v2, validate against the champion, deploy; roll
    back to v1; the fraud-detection and transaction-risk models trained, validated, signed off
    and deployed beside it; one decision of each over HTTP; one batch job; verify the audit
    chain. With --drift, the drift walk follows.

    Example: riskops demo --reset --drift
    """
    from riskops.demo import OTHER_SPECS, run_demo

    state: State = ctx.obj
    summary = run_demo(
        state.settings(),
        reset=reset,
        spec_path=spec_path or DEFAULT_SPEC,
        progress=progress,
        drift=drift,
        others=() if spec_path is not None else OTHER_SPECS,
    )
    if as_json:
        print_json(summary.as_dict())
    else:
        table = Table(title=f"riskops demo: {', '.join(summary.models)}", title_justify="left")
        for column in ("time (UTC)", "step", "model", "by", "outcome"):
            table.add_column(column)
        for s in summary.steps:
            table.add_row(s.at.strftime("%H:%M:%S"), s.what, s.model, s.actor, s.outcome)
        console.print(table)
        versions = Table(title="Versions", title_justify="left")
        for column in ("version", "trainer params", "validation AUC", "digest", "compared with"):
            versions.add_column(column)
        for number, info in summary.versions.items():
            versions.add_row(
                f"v{number}",
                str(info["params"]),
                f"{info['validation_auc']:.3f}",
                short(info["digest"]),
                info["champion_compared"] or "- (first champion)",
            )
        console.print(versions)
        settings = summary.settings
        production = " → ".join(f"v{v}" for _, v in summary.production_history)
        console.print(f"{summary.models[0]} production history: {production} (rollbacks)")
        if summary.served:
            served = Table(title="One decision of each kind over HTTP", title_justify="left")
            for column in ("model", "kind", "subject", "decision", "score", "first reason"):
                served.add_column(column)
            for answer in summary.served:
                served.add_row(
                    f"{answer['model']}@{answer['version']}",
                    answer["kind"],
                    answer["subject_id"],
                    answer["decision"],
                    f"{answer['score']:.4f}",
                    answer["reasons"][0] if answer["reasons"] else "-",
                )
            console.print(served)
        if summary.batch is not None:
            b = summary.batch
            console.print(
                f"batch job: {b['rows']:,} rows scored by {b['model']}@{b['version']} "
                f"({b['rejects']} rejected) in {b['wall_seconds']:.1f} s → {b['output']}"
            )
        if summary.audit is not None and summary.audit.ok:
            anchored = summary.audit.checkpoints
            console.print(
                f"audit chain verified: {summary.audit.events} events"
                + (
                    f", anchored by {len(anchored)} signed checkpoints"
                    if anchored
                    else " (integrity only, not anchored)"
                )
            )
        elif summary.audit is not None:
            console.print(
                f"[red]audit chain BROKEN at event {summary.audit.first_broken_seq}[/red]: "
                f"{summary.audit.reason}"
            )
        html = [p for p in summary.documents if p.suffix == ".html"]
        if html:
            console.print(
                f"documents ({len(html)} HTML, each also as Markdown) in {html[0].parent}:"
            )
            for path in html:
                console.print(f"  {path.name}")
        if summary.monitoring_report is not None:
            console.print(f"monitoring report: {summary.monitoring_report}")
        console.print(f"riskops store: {settings.database_url}")
        console.print(
            f"MLflow store:  {settings.mlflow_tracking_uri} (artifacts {settings.artifact_root})"
        )
        if len(summary.production_history) > 1:
            moment = summary.production_history[1][0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            console.print(
                f"Try: riskops models · riskops show {summary.models[0]} --at {moment} · "
                f"riskops audit verify · riskops reproduce {summary.models[0]}@1 · "
                "riskops inventory"
            )
        console.print(f"Finished in {summary.seconds:.1f} s")
    if summary.audit is None or not summary.audit.ok:
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    for command in (init, doctor, demo):
        app.command()(command)
