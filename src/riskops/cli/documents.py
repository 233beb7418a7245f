"""The ``riskops docs`` command: a version's validation report, model card and Annex IV pack,
generated from the stored records; and ``riskops documents``: the documents only the provider or
a deployer can write (declaration of conformity, fundamental-rights impact assessment), filed
with a version and checked against their recorded sha256."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.errors import EXIT_FAILURE
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


app = typer.Typer(
    help="Documents filed with a version: declaration of conformity, FRIA.", no_args_is_help=True
)


@app.command()
def attach(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The document to file.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            metavar="declaration_of_conformity|fria|other",
            help="declaration_of_conformity (Art. 47), fria (a deployer's fundamental-rights "
            "impact assessment, Art. 27) or other.",
        ),
    ],
    actor: Annotated[
        str | None,
        typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who files it (name in riskops.toml)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """File a document with a version: it is copied into the workspace and recorded in the audit
    chain with its kind, name, size and sha256; the Annex IV pack lists it and re-hashes it.

    Example: riskops documents attach credit-scoring@3 doc.pdf --kind declaration_of_conformity --as rita
    """
    from riskops.documents.attachments import attach as file_attachment

    state: State = ctx.obj
    ref = parse_ref(target)
    a = file_attachment(state.context(), ref, file, kind=kind, actor=actor)
    if as_json:
        print_json(
            {
                "model": str(ref),
                "kind": a.kind,
                "name": a.name,
                "sha256": a.sha256,
                "size": a.size,
                "stored": a.stored,
                "audit_seq": a.seq,
            }
        )
        return
    console.print(
        f"Filed {a.name} ({a.kind_text}) with [bold]{ref}[/bold]: sha256 {a.sha256}, "
        f"{a.size} bytes, audit event #{a.seq}."
    )


@app.command()
def verify(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Re-hash every document filed with a version against the sha256 its audit event recorded;
    exit 1 when a stored copy is missing or differs.

    Example: riskops documents verify credit-scoring@3
    """
    from riskops.documents.attachments import verify_attachments

    state: State = ctx.obj
    ref = parse_ref(target)
    checks = verify_attachments(state.context(), ref)
    ok = all(k.verdict == "verified" for k in checks)
    if as_json:
        print_json(
            {
                "model": str(ref),
                "verified": ok,
                "attachments": [
                    {
                        "kind": k.attachment.kind,
                        "name": k.attachment.name,
                        "sha256": k.attachment.sha256,
                        "verdict": k.verdict,
                        "audit_seq": k.attachment.seq,
                    }
                    for k in checks
                ],
            }
        )
    else:
        if not checks:
            console.print(f"No document is filed with {ref}.")
        for k in checks:
            console.print(
                f"{k.attachment.name} ({k.attachment.kind}, audit event #{k.attachment.seq}): "
                f"{k.text}"
            )
    if not ok and checks:
        raise typer.Exit(EXIT_FAILURE)


def register(app_: typer.Typer) -> None:
    app_.command()(docs)
    app_.add_typer(app, name="documents")
