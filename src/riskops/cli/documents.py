"""The ``riskops docs`` command: a version's validation report, model card and Annex IV pack,
generated from the stored records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.output import console, print_json
from riskops.cli.state import State
from riskops.registry.versions import parse_ref


def docs(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="DIR", help="Folder to write the documents to (created if missing)."
        ),
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            metavar="html|md|pdf",
            help="html (one self-contained file each), md (with PNG figures beside it) or pdf "
            "(needs the pdf extra); repeatable. Default: html and md.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the written paths as JSON.")
    ] = False,
) -> None:
    """Write the validation report, model card and EU AI Act Annex IV pack of a version, generated
    from its stored records (gate results, sign-offs, deployments, lineage).

    Example: riskops docs credit-scoring@1 --out reports/
    """
    from riskops.documents.render import render_documents

    state: State = ctx.obj
    ref = parse_ref(target)
    paths = render_documents(state.context(), ref, out, formats=tuple(formats or ("html", "md")))
    if as_json:
        print_json({"model": str(ref), "documents": [str(p) for p in paths]})
        return
    console.print(f"Documents of [bold]{ref}[/bold], generated from its records:")
    for path in paths:
        console.print(f"  {path}")


def register(app: typer.Typer) -> None:
    app.command()(docs)
