"""``riskops skew check``: training–serving skew of a model against an offline source. Parses
input, calls :func:`riskops.monitoring.skew.check_skew`, prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json
from riskops.cli.state import State

app = typer.Typer(help="Training–serving skew.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model's name.")],
    source: Annotated[
        Path, typer.Option("--source", help="Offline CSV or Parquet, one row per subject.")
    ],
    subject_key: Annotated[
        str, typer.Option("--subject-key", help="The source's column of subject ids.")
    ],
    sample: Annotated[
        int, typer.Option("--sample", help="How many matched decisions to decrypt.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    flag_rate: Annotated[
        float, typer.Option("--flag-rate", help="Flag a feature above this mismatch rate.")
    ] = 0.01,
    actor: Annotated[
        str | None,
        typer.Option(
            "--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Compare the features a sample of decisions was served with the offline values of the
    same subjects (exit 1 when a feature is flagged).

    Example: riskops skew check credit-scoring --source offline.parquet --subject-key customer_id --as victor
    """
    from riskops.monitoring.skew import check_skew

    state: State = ctx.obj
    report = check_skew(
        state.context(),
        model,
        source,
        subject_key=subject_key,
        actor=actor,
        sample=sample,
        seed=seed,
        flag_rate=flag_rate,
    )
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(
            f"{report.model_name} against {report.source}: {report.matched} decision(s) about "
            f"its {report.source_subjects} subject(s), {report.sampled} sampled"
            f"{f', {report.erased} of erased subjects skipped' if report.erased else ''}."
        )
        table = Table("feature", "compared", "mismatch rate", "distance", "flagged")
        for f in report.features:
            table.add_row(
                f.name,
                str(f.compared),
                f"{100 * f.mismatch_rate:.1f}%",
                "-" if f.distance is None else f"{f.distance:.4g} ({f.distance_kind})",
                "[bold red]SKEW[/bold red]" if f.flagged else "",
            )
        console.print(table)
    if report.flagged:
        raise typer.Exit(EXIT_FAILURE)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="skew")
