"""``riskops spec``: check a model spec (and its data) without training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.output import console, print_json
from riskops.spec import load_spec

app = typer.Typer(help="Check model specs.", no_args_is_help=True)


@app.command()
def check(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC")],
    data: Annotated[
        bool, typer.Option("--data/--no-data", help="Also check the dataset against the spec.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate a model.yaml, import its trainer and check it takes (X, y, params), and by
    default check its dataset against the declared schema.

    Example: riskops spec check models/credit_scoring/model.yaml
    """
    from riskops.datasets.prepared import load_checked
    from riskops.training.trainer import resolve_trainer

    loaded = load_spec(spec_path)
    resolve_trainer(loaded)
    rows = None
    if data:
        rows = load_checked(loaded).rows
    if as_json:
        print_json(
            {
                "spec": str(spec_path),
                "name": loaded.spec.name,
                "sha256": loaded.sha256,
                "trainer": loaded.spec.trainer.entrypoint,
                "rows": rows,
            }
        )
        return
    console.print(
        f"{spec_path}: valid spec for [bold]{loaded.spec.name}[/bold] "
        f"({len(loaded.spec.features)} features)"
        + (f"; its data matches ({rows} rows)" if rows is not None else "")
    )
    console.print(f"trainer {loaded.spec.trainer.entrypoint}: imports, takes (X, y, params)")
