"""Governance commands: reject a version, override a failed gate, the inventory with review
dates, and reproducing a version from its records. Each parses input, calls one service
function, and prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json, progress, short
from riskops.cli.state import State

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Ref = Annotated[str, typer.Argument(metavar="MODEL@VERSION")]


def reject(
    ctx: typer.Context,
    ref: Ref,
    actor: Actor = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it is rejected (required).")] = "",
    findings: Annotated[
        str, typer.Option("--findings", help="The review's findings, if more than the reason.")
    ] = "",
    as_json: Json = False,
) -> None:
    """Reject a validated version: a risk officer, or its validator at their sign-off.

    A person's rejection is final; the version can no longer be approved or overridden.

    Example: riskops reject credit-scoring@3 --as rita --reason "reason codes too vague"
    """
    from riskops.governance.approvals import reject as reject_version
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    done = reject_version(
        state.context(), parse_ref(ref), actor=actor, reason=reason, findings=findings
    )
    if as_json:
        print_json(done.as_dict())
        return
    console.print(
        f"{done.actor} rejected {done.ref} as {done.role.value}; it is [bold red]{done.state}[/bold red]."
    )
    if done.next_step:
        console.print(f"Next: {done.next_step}")


def override(
    ctx: typer.Context,
    ref: Ref,
    gate: Annotated[
        str, typer.Option("--gate", help="The failed blocking gate, e.g. performance.auc.")
    ] = "",
    justification: Annotated[
        str, typer.Option("--justification", help="Why the gate may be overridden (recorded).")
    ] = "",
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Override a failed blocking gate of a rejected version, with a written justification.

    Only a risk officer who did not train the version may; once every failed blocking gate
    is overridden, the version is validated and still needs both sign-offs.

    Example: riskops override credit-scoring@3 --gate performance.auc --as rita --justification "AUC 0.69 on 300 rows; its CI covers 0.70"
    """
    from riskops.governance.overrides import override_gate
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    done = override_gate(
        state.context(), parse_ref(ref), gate=gate, justification=justification, actor=actor
    )
    if as_json:
        print_json(done.as_dict())
        return
    console.print(
        f"{done.actor} overrode the gate {done.gate} of {done.ref}; it is [bold]{done.state}[/bold]."
    )
    console.print(f"Next: {done.next_step}")


def inventory(ctx: typer.Context, as_json: Json = False) -> None:
    """List every model with its tier, owner, production version, last validation and next
    review date; overdue reviews are marked (review_months in riskops.toml).

    Example: riskops inventory --json
    """
    from riskops.governance.review import review_inventory

    state: State = ctx.obj
    result = review_inventory(state.context())
    if as_json:
        print_json(result.as_dict())
        return
    if not result.entries:
        console.print(
            "No models yet. Train one: riskops train models/credit_scoring/model.yaml --as <developer>"
        )
        return
    table = Table(
        title=f"Model inventory on {result.at:%Y-%m-%d}", title_justify="left", show_lines=False
    )
    for column in (
        "model",
        "tier",
        "state",
        "owner",
        "production",
        "last validation",
        "next review",
        "status",
        "open findings",
        "open conditions",
    ):
        table.add_column(column)
    for e in result.entries:
        if e.next_review is None or e.days_to_review is None:
            status = "never validated"
        elif e.overdue:
            status = f"OVERDUE by {-e.days_to_review} days"
        else:
            status = f"due in {e.days_to_review} days"
        table.add_row(
            e.name,
            f"{e.risk_tier} ({e.review_months} months)",
            f"{e.state} (v{e.reviewed_version})" if e.state else "-",
            e.owner,
            f"v{e.production_version}" if e.production_version else "-",
            f"{e.last_validation:%Y-%m-%d}" if e.last_validation else "-",
            f"{e.next_review:%Y-%m-%d}" if e.next_review else "-",
            status,
            f"{e.open_findings}"
            + (f" ({e.overdue_findings} overdue)" if e.overdue_findings else ""),
            str(e.open_conditions),
            style="bold red" if e.overdue else None,
        )
    console.print(table)
    if result.overdue:
        names = ", ".join(e.name for e in result.overdue)
        console.print(
            f"[bold red]{len(result.overdue)} review(s) overdue: {names}.[/bold red] "
            "Revalidate: train a new version on current data and validate it "
            "(riskops train SPEC --as <developer>, then riskops validate MODEL@VERSION --as <validator>)"
        )


def reproduce(
    ctx: typer.Context,
    ref: Ref,
    actor: Actor = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Where the spec (and its trainer) is now, if it moved since training."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Retrain a version from its recorded data, spec, params and code, and compare its
    predictions with the registered model's. Exits 1 on a mismatch; registers nothing.

    Example: riskops reproduce credit-scoring@1 --as victor
    """
    from riskops.registry.versions import parse_ref
    from riskops.training.reproduce import reproduce as reproduce_version

    state: State = ctx.obj
    result = reproduce_version(
        state.context(), parse_ref(ref), actor=actor, spec_path=spec, progress=progress
    )
    if as_json:
        print_json(result.as_dict())
    else:
        colour = "green" if result.matches else "red"
        said = {
            "bit-for-bit": "matches bit-for-bit",
            "within tolerance": f"matches within tolerance ({result.tolerance:g})",
            "mismatch": "does NOT match",
        }[result.verdict]
        console.print(
            f"{result.ref} reproduced from data {short(result.data_fingerprint)}: "
            f"[bold {colour}]{said}[/bold {colour}] "
            f"(max |difference| {result.max_abs_difference:.3g} over {result.rows} validation rows)."
        )
        console.print(f"  {result.reason}")
        if result.differences:
            console.print("Differences from the recorded training (the result may differ):")
            for item in result.differences:
                console.print(f"  - {item}")
    if not result.matches:
        raise typer.Exit(EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    for command in (reject, override, inventory, reproduce):
        app.command()(command)
