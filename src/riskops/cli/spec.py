"""``riskops spec``: draft a model spec from a dataset, and check a spec (and its data)
without training."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.output import console, print_json
from riskops.spec import load_spec

app = typer.Typer(help="Draft and check model specs.", no_args_is_help=True)


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
    from riskops.training.scaffold import PLACEHOLDER, placeholders  # pandas: only when run

    todo = placeholders(loaded.text)
    if todo:
        lines = ", ".join(str(n) for n in todo[:8]) + (" …" if len(todo) > 8 else "")
        console.print(
            f"[yellow]Warning:[/yellow] {len(todo)} {PLACEHOLDER} placeholder(s) left "
            f"(lines {lines}); fill them in before the model is validated."
        )


@app.command()
def init(
    data: Annotated[Path, typer.Option("--data", help="The training CSV (header row, UTF-8).")],
    label: Annotated[str, typer.Option("--label", help="The column holding the event.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write model.yaml and trainer.py (default: NAME)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name (default: from the file's name).")
    ] = None,
    subject_key: Annotated[
        str | None, typer.Option("--subject-key", help="The column identifying the subject.")
    ] = None,
    protected: Annotated[
        list[str] | None,
        typer.Option("--protected", help="A protected attribute's column (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing draft.")] = False,
) -> None:
    """Draft model.yaml and trainer.py from a dataset: types, ranges, categories, missing rates
    and fairness groups from the data, TODO(owner) placeholders for what only the owner knows.

    Example: riskops spec init --data data/german_credit/german_credit.csv --label creditability --protected age_in_years --out models/my_model
    """
    model = name or re.sub(r"[^a-z0-9]+", "-", data.stem.lower()).strip("-")
    folder = out or Path(model)
    reference = os.path.relpath(data.resolve(), folder.resolve())
    from riskops.training.scaffold import PLACEHOLDER, draft_spec, write_scaffold

    draft = draft_spec(
        data,
        label=label,
        name=model,
        subject_key=subject_key,
        protected=tuple(protected or ()),
        data_reference=reference,
    )
    written = write_scaffold(draft, folder, force=force)
    numeric = sum(1 for f in draft.features if f.type == "numeric")
    console.print(
        f"Drafted [bold]{model}[/bold] from {draft.rows} rows: {numeric} numeric and "
        f"{len(draft.features) - numeric} categorical feature(s).\n"
        + "\n".join(f"  wrote {p}" for p in written)
        + f"\nFill in the {PLACEHOLDER} placeholders, then: riskops spec check {written[0]}"
    )
