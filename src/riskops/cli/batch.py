"""``riskops batch``: score a Parquet or CSV file to Parquet with an approved version
(``batch score``), and check an output folder against its manifest (``batch verify``).

The work is :func:`riskops.batch.local.score_file`; this command parses the options, draws a
progress bar when stdout is a terminal, and prints the run record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json, short
from riskops.cli.state import State
from riskops.errors import MissingExtraError

if TYPE_CHECKING:
    from riskops.batch.local import Progress

app = typer.Typer(
    help="Score files of subjects with an approved model version.", no_args_is_help=True
)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("score")
def score(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODEL@VERSION | MODEL",
            help="The version to score with, or the model whose champion in --env scores.",
        ),
    ],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="The Parquet or CSV file of subjects.")
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The folder for the Parquet partitions (created)."),
    ],
    env: Annotated[
        str | None,
        typer.Option("--env", help="Score with MODEL's champion in this environment."),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this machine's cores) or spark.")
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Worker processes (local engine; default: every core)."),
    ] = None,
    partition_rows: Annotated[
        int, typer.Option("--partition-rows", help="Input rows per output partition.")
    ] = 100_000,
    explain: Annotated[
        bool, typer.Option("--explain", help="Reason codes on every row, not only adverse ones.")
    ] = False,
    reasons: Annotated[
        bool,
        typer.Option("--reasons/--no-reasons", help="--no-reasons: scores and outcomes only."),
    ] = True,
    unknown_category: Annotated[
        str,
        typer.Option(
            "--unknown-category", help="reject (a reject row) or missing (scored as missing)."
        ),
    ] = "reject",
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace another batch job's output in --output."),
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who runs it (an operator)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Score every row of a Parquet or CSV file with an approved version into Parquet
    partitions: score, outcome, reason codes for every non-favourable row, version and
    digest. Malformed rows go to rejects.parquet with their reason. A rerun resumes: it skips
    the partitions already written. The run is sealed in the audit chain.

    Example: riskops batch score credit-scoring --env production --input applicants.parquet
    --output scored/ --as oscar
    """
    try:
        from riskops.batch.local import Options, score_file
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] == "pyarrow":
            raise MissingExtraError("Batch scoring", "pyarrow", "parquet") from None
        raise
    options = Options(
        partition_rows=partition_rows,
        workers=workers,
        reasons=reasons,
        explain=explain,
        unknown_category=unknown_category,  # type: ignore[arg-type]  # checked by Options
        overwrite=overwrite,
    )
    state: State = ctx.obj
    context = state.context()
    bar = _Bar() if sys.stdout.isatty() and not as_json else None
    try:
        run = score_file(
            context,
            target,
            input,
            output,
            actor=actor or "",
            environment=env,
            engine=engine,  # type: ignore[arg-type]  # checked by score_file
            options=options,
            progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        print_json(run.as_dict())
        return
    console.print(
        f"Scored {run.rows:,} rows of {input} with {run.model_ref} ({short(run.digest)}) on the "
        f"{run.engine} engine: {run.decisions:,} decisions, {run.rejects:,} rejects, "
        f"{run.rows_per_second:,.0f} rows/s."
    )
    shown = ", ".join(f"{name} {n:,}" for name, n in sorted(run.outcomes.items()))
    console.print(
        f"  outcomes: {shown}" + (f"; {run.fallbacks:,} fallbacks" if run.fallbacks else "")
    )
    console.print(
        f"  {run.partitions} partitions ({run.written} written, {run.skipped} already done) in "
        f"{output}; wall {run.wall_seconds:.1f} s, CPU {run.cpu_seconds:.1f} s, "
        f"peak memory {run.peak_rss_mb:,.0f} MB, {run.workers} worker(s)"
    )
    console.print(
        f"  output sha256 {short(run.output_sha256, 16)}, sealed at audit event {run.audit_seq}"
    )
    if run.rejects:
        console.print(f"  rejected rows and their reasons: {output / 'rejects.parquet'}")


@app.command("verify")
def verify(
    output: Annotated[Path, typer.Argument(help="A batch job's --output folder.")],
    as_json: Json = False,
) -> None:
    """Check every file of a batch output against its manifest's sha256, and the manifest
    against its run record (exit 1 on any difference).

    Example: riskops batch verify scored/
    """
    from riskops.batch.manifest import Manifest

    manifest = Manifest.load(output)
    problems = manifest.verify()
    run = manifest.run or {}
    if as_json:
        print_json(
            {
                "output": str(output),
                "output_sha256": manifest.content_sha256(),
                "audit_seq": run.get("audit_seq"),
                "problems": problems,
            }
        )
    elif problems:
        for problem in problems:
            console.print(f"[red]✗[/red] {problem}")
    else:
        console.print(
            f"[green]✓[/green] {len(manifest.partitions)} partitions match {output / 'manifest.json'}"
            f" (output sha256 {short(manifest.content_sha256(), 16)}, audit event "
            f"{run.get('audit_seq', '-')})"
        )
    if problems:
        raise typer.Exit(EXIT_FAILURE)


class _Bar:
    """A rich progress bar on stderr fed by the job's progress callback."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("partitions · {task.fields[rows]:,} rows"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("score", total=None, rows=0)
        self._progress.start()

    def update(self, progress: Progress) -> None:
        self._progress.update(
            self._task,
            completed=progress.partitions,
            total=progress.total_partitions,
            rows=progress.rows,
        )

    def close(self) -> None:
        self._progress.stop()
