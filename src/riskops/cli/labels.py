"""Label and performance commands: ``riskops labels ingest`` stores observed outcomes;
``riskops monitor performance`` shows performance estimated from the scores beside the
realised figures and the vintage matrix. Each parses input, calls one service function
(``riskops.monitoring.labels``, ``riskops.monitoring.outcomes``) and prints the result.

``performance`` is a command of the ``monitor`` group (:mod:`riskops.cli.monitor`), defined
here beside the labels it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.cli.monitor import app as monitor_app
from riskops.cli.output import console, print_json
from riskops.cli.state import State

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Model = Annotated[
    str, typer.Argument(metavar="MODEL", help="The model's name, e.g. credit-scoring.")
]

app = typer.Typer(help="Observed outcomes of logged decisions.", no_args_is_help=True)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV or Parquet, one row per outcome.")
    ],
    model: Annotated[str, typer.Option("--model", help="The model the decisions are of.")],
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column of the decision ids.")
    ] = "decision_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="Column of the labels, in the spec's values.")
    ] = "label",
    observed_column: Annotated[
        str, typer.Option("--observed-column", help="Column of when the outcome was observed.")
    ] = "observed_at",
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Store observed outcomes, joined to logged decisions by id: every row or none.

    Labels are sealed under the subject's key like the decision's features, so erasing the
    subject makes them unreadable. A decision labelled again keeps the last label.

    Example: riskops labels ingest outcomes.csv --model credit-scoring --as oscar
    """
    from riskops.monitoring.labels import ingest_labels

    state: State = ctx.obj
    result = ingest_labels(
        state.context(),
        file,
        model=model,
        actor=actor,
        id_column=id_column,
        label_column=label_column,
        observed_column=observed_column,
    )
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"Ingested {result.rows} row(s) of {result.file} for {result.model_name}: "
        f"{result.new} new label(s), {result.relabelled} relabelled; "
        f"{result.positives} positive, {result.negatives} negative"
        f"{f', {result.unbinned} outside the performance cells' if result.unbinned else ''} "
        f"(audit #{result.audit_seq})."
    )


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


@monitor_app.command("performance")
def performance(
    ctx: typer.Context,
    model: Model,
    version: Annotated[
        int | None, typer.Option("--version", help="Default: the latest with decisions.")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", help="Only decisions made in this environment.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Performance estimated from the scores beside the realised figures, and the vintage
    matrix (cumulative bad rate per cohort month and months since decision).

    Example: riskops monitor performance credit-scoring --json
    """
    from riskops.monitoring.outcomes import performance_report

    state: State = ctx.obj
    report = performance_report(state.context(), model, version=version, environment=env)
    if as_json:
        print_json(report.as_dict())
        return
    est = report.estimate
    auc = report.realised_auc
    console.print(
        f"[bold]{report.model_name}@{report.version}[/bold]: {est.n} scored decision(s), "
        f"{report.labelled} labelled."
    )
    console.print(
        f"  estimated (from scores): bad rate {_pct(est.expected_bad_rate)} "
        f"({est.expected_positives:.1f} ± {est.sigma:.1f} bad), AUC "
        f"{'-' if est.expected_auc is None else f'{est.expected_auc:.3f}'}"
    )
    if auc is None:
        console.print("  realised: no labels with both outcomes yet.")
    else:
        expected = report.expected_auc_labelled
        console.print(
            f"  realised (labelled): bad rate {_pct(report.bad_rate)} ({report.positives} bad, "
            f"expected {report.expected_positives_labelled:.1f} ± {report.sigma_labelled:.1f}), "
            f"AUC {auc.auc:.3f} [{auc.low:.3f}, {auc.high:.3f}] (expected "
            f"{'-' if expected is None else f'{expected:.3f}'}"
            f"{'' if report.auc_within else ', OUTSIDE 3σ'}), Gini {auc.gini:.3f}, "
            f"KS {report.ks:.3f}"
        )
    outcomes = Table("outcome", "labelled", "bad", "expected ± σ", "within 3σ", title="By decision")
    for row in report.outcomes:
        outcomes.add_row(
            row.outcome,
            str(row.labelled),
            str(row.positives),
            f"{row.expected:.1f} ± {row.sigma:.1f}",
            "yes" if row.within else "[bold red]no[/bold red]",
        )
    if report.outcomes:
        console.print(outcomes)
    bands = Table(
        "score band",
        "n",
        "bad rate",
        "Jeffreys 95%",
        "mean score",
        "calibrated",
        title="Calibration by score band",
    )
    for lower, upper, r in report.bands:
        if r.n:
            bands.add_row(
                f"[{lower:.1f}, {upper:.1f})",
                str(r.n),
                _pct(r.rate),
                f"{_pct(r.low)}–{_pct(r.high)}",
                _pct(r.mean_score),
                "yes" if r.calibrated else "[bold red]no[/bold red]",
            )
    if report.labelled:
        console.print(bands)
    if report.vintage and report.vintage[0]:
        months = len(report.vintage[0])
        grid = Table(
            "cohort",
            "decisions",
            *(f"m{k}" for k in range(months)),
            title="Vintage: cumulative bad rate by months since decision",
        )
        for cohort, count, cells in zip(
            report.cohorts, report.decisions_per_cohort, report.vintage, strict=True
        ):
            grid.add_row(cohort, str(count), *(_pct(v) for v in cells))
        console.print(grid)
    console.print(
        "[dim]Estimates assume calibrated scores and no concept shift; realised figures are "
        "exact for scores binned on 100 equal-width bins.[/dim]"
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="labels")
