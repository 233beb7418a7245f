"""``riskops audit``: verify the hash chain, list events, print the head to anchor elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from riskops.audit import list_events
from riskops.audit import verify as verify_chain
from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, err_console, parse_time, print_json
from riskops.cli.state import State

app = typer.Typer(help="Verify and read the audit trail.", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command()
def verify(
    ctx: typer.Context,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head hash recorded earlier (riskops audit head): the chain must still contain it.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Recompute the whole hash chain and every decision batch's Merkle root; exit 1 and name
    the first broken event, or the batch with a deleted or edited decision.

    Example: riskops audit verify
    """
    from riskops.decisions.sealing import verify_decisions

    state: State = ctx.obj
    report = verify_chain(state.context().store)
    decisions = verify_decisions(state.context().store)
    anchored = True
    if report.ok and expect_head:
        events = list_events(state.context().store)
        anchored = any(e.hash == expect_head.strip() for e in events)
    if as_json:
        print_json(
            {
                **report.as_dict(),
                "anchor_found": anchored if expect_head else None,
                "decisions": decisions.as_dict(),
            }
        )
    elif report.ok and anchored:
        console.print(
            f"audit chain verified: {report.events} events (head {report.head_hash[:16]})"
        )
    elif report.ok:
        console.print(
            f"[red]audit chain BROKEN[/red]: the anchored head {expect_head} is no longer in the "
            "chain (the chain was rewritten)."
        )
    else:
        console.print(
            f"[red]audit chain BROKEN at event {report.first_broken_seq}[/red]: {report.reason}. "
            f"{report.events} events before it verify."
        )
    if not as_json and decisions.ok:
        console.print(
            f"decision log verified: {decisions.decisions} decisions in {decisions.batches} "
            "sealed batches"
        )
    elif not as_json:
        console.print(f"[red]decision log BROKEN[/red]: {decisions.reason}.")
    if not (report.ok and anchored and decisions.ok):
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def head(ctx: typer.Context, as_json: Json = False) -> None:
    """Print the chain's head (last event and hash) to record outside the system.

    Example: riskops audit head >> anchors.txt
    """
    state: State = ctx.obj
    report = verify_chain(state.context().store)
    if as_json:
        print_json({"seq": report.head_seq, "hash": report.head_hash, "ok": report.ok})
    else:
        console.print(f"{report.head_seq} {report.head_hash}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="File to write (JSON Lines); '-' for standard output.")
    ] = Path("-"),
) -> None:
    """Export every audit event verbatim (JSON Lines), for verification outside riskops.

    docs/audit-chain.md shows a verifier that needs only Python's standard library.

    Example: riskops audit export --out audit.jsonl
    """
    from riskops.audit.export import export_events

    state: State = ctx.obj
    context = state.context()
    if str(out) == "-":
        export_events(context.store, sys.stdout, at=context.clock())
        return
    with out.open("w", encoding="utf-8") as handle:
        header = export_events(context.store, handle, at=context.clock())
    err_console.print(f"Wrote {header['events']} events to {out} (head {header['head']['seq']})")


@app.command("log")
def log(
    ctx: typer.Context,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only events by this person.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only actions starting with this, e.g. deployment."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Only events about this model or MODEL@VERSION.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this time (ISO 8601).")] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this time (ISO 8601).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the newest N events.")
    ] = None,
    as_json: Json = False,
) -> None:
    """List audit events, oldest first, with filters.

    Example: riskops audit log --model credit-scoring --action deployment --json
    """
    state: State = ctx.obj
    events = list_events(
        state.context().store,
        actor=actor,
        action=action,
        object_id=model,
        since=parse_time(since, option="--since") if since else None,
        until=parse_time(until, option="--until") if until else None,
        limit=limit,
    )
    if as_json:
        print_json([e.as_dict() for e in events])
        return
    table = Table(title=f"Audit events ({len(events)})", title_justify="left")
    for column in ("seq", "time (UTC)", "actor", "role", "action", "object", "hash"):
        table.add_column(column)
    for e in events:
        table.add_row(
            str(e.seq),
            e.occurred_at[:19].replace("T", " "),
            e.actor,
            e.role,
            e.action,
            e.object_id,
            e.hash[:12],
        )
    console.print(table)
