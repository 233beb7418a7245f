"""Effective-challenge commands: ``riskops findings add|list|update`` (the validator's findings
log) and ``riskops condition list|close`` (conditions of approval). Each parses input, calls
one service function (``riskops.governance.findings``, ``riskops.governance.conditions``) and
prints the result."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from riskops.cli.output import console, print_json
from riskops.cli.state import State
from riskops.errors import InputError

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

findings_app = typer.Typer(
    help="The validator's findings log: severity, owner, due date, status.\n\n"
    "Example: riskops findings list credit-scoring@1",
    no_args_is_help=True,
)
condition_app = typer.Typer(
    help="Conditions of approval; a blocking one stops deployment to production until met.\n\n"
    "Example: riskops condition list credit-scoring@1",
    no_args_is_help=True,
)


def _due(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--due {text!r} is not a date.", hint="Give it as YYYY-MM-DD, e.g. --due 2027-03-31"
        ) from None


@findings_app.command("add")
def add(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    text: Annotated[str, typer.Option("--text", help="What is wrong and why it matters.")] = "",
    severity: Annotated[str, typer.Option("--severity", help="high, medium or low.")] = "medium",
    owner: Annotated[str, typer.Option("--owner", help="Who remediates (a person).")] = "",
    due: Annotated[str, typer.Option("--due", help="Remediation due date, YYYY-MM-DD.")] = "",
    gate: Annotated[
        str | None, typer.Option("--gate", help="The gate it is about, if any.")
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Raise a finding on a version (a validator who did not train it).

    Example: riskops findings add credit-scoring@1 --severity medium --owner alice --due 2027-03-31 --gate fairness.foreign_worker.approval_rate_ratio --text "Approval ratio 0.71" --as victor
    """
    from riskops.governance.findings import raise_finding
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    if not due:
        raise InputError("A finding needs a due date.", hint="--due YYYY-MM-DD")
    done = raise_finding(
        state.context(),
        parse_ref(ref),
        severity=severity,
        owner=owner,
        due=_due(due),
        text=text,
        gate=gate,
        actor=actor,
    )
    if as_json:
        print_json(done.as_dict())
        return
    console.print(
        f"Finding #{done.id} on {done.ref} ({done.severity}), owned by {done.owner}, due "
        f"{done.due}: open."
    )


@findings_app.command("list")
def list_(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL[@VERSION]")],
    as_json: Json = False,
) -> None:
    """List the findings of a model (or one version), with their status.

    Example: riskops findings list credit-scoring@1 --json
    """
    from riskops.governance.findings import list_findings
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    context = state.context()
    if "@" in model:
        ref = parse_ref(model)
        found = list_findings(context, ref.name, ref.version)
    else:
        found = list_findings(context, model)
    if as_json:
        print_json({"model": model, "findings": [f.as_dict() for f in found]})
        return
    if not found:
        console.print(f"No findings on {model}.")
        return
    today = context.clock().date()
    table = Table(title=f"Findings on {model}", title_justify="left")
    for column in ("id", "version", "severity", "status", "owner", "due", "gate", "text"):
        table.add_column(column)
    for f in found:
        table.add_row(
            str(f.id),
            str(f.ref.version),
            f.severity,
            f.status,
            f.owner,
            f"{f.due}" + (" OVERDUE" if f.overdue(today) else ""),
            f.gate or "-",
            f.text,
        )
    console.print(table)


@findings_app.command("update")
def update(
    ctx: typer.Context,
    finding_id: Annotated[int, typer.Argument(metavar="ID")],
    status: Annotated[
        str, typer.Option("--status", help="remediated, accepted, closed or open.")
    ] = "",
    note: Annotated[str, typer.Option("--note", help="What was done (recorded).")] = "",
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Move a finding: its owner marks it remediated, a risk officer accepts the risk, a
    validator closes it (or reopens a remediation that does not suffice).

    Example: riskops findings update 1 --status remediated --note "Reweighted" --as alice
    """
    from riskops.governance.findings import update_finding

    state: State = ctx.obj
    done = update_finding(state.context(), finding_id, status=status, note=note, actor=actor)
    if as_json:
        print_json(done.as_dict())
        return
    console.print(f"Finding #{done.id} on {done.ref} is now {done.status}.")


@condition_app.command("list")
def conditions(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    as_json: Json = False,
) -> None:
    """List the conditions of a version's approval and whether each is met.

    Example: riskops condition list credit-scoring@1
    """
    from riskops.governance.conditions import list_conditions
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    found = list_conditions(state.context(), parse_ref(ref))
    if as_json:
        print_json({"model": ref, "conditions": [c.as_dict() for c in found]})
        return
    if not found:
        console.print(f"No conditions on {ref}.")
        return
    for c in found:
        blocking = "blocking" if c.blocking else "not blocking"
        console.print(f"#{c.id} [{c.status}] {c.kind}, {blocking}: {c.text}")
        if c.status == "open" and c.blocking:
            console.print(f"    to meet it: {c.how_to_meet}")
        elif c.evidence:
            console.print(f"    met: {c.evidence} ({c.closed_by})")


@condition_app.command("close")
def close(
    ctx: typer.Context,
    condition_id: Annotated[int, typer.Argument(metavar="ID")],
    evidence: Annotated[
        str, typer.Option("--evidence", help="What shows the condition is met (recorded).")
    ] = "",
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Close an open condition of approval with written evidence (a validator or risk
    officer).

    Example: riskops condition close 2 --evidence "Refer band reviewed, memo 14" --as rita
    """
    from riskops.governance.conditions import close_condition

    state: State = ctx.obj
    done = close_condition(state.context(), condition_id, evidence=evidence, actor=actor)
    if as_json:
        print_json(done.as_dict())
        return
    console.print(f"Condition #{done.id} of {done.ref} is {done.status}: {done.evidence}")


def register(root: typer.Typer) -> None:
    root.add_typer(findings_app, name="findings")
    root.add_typer(condition_app, name="condition")
