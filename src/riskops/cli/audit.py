"""``riskops audit``: verify the hash chain, list events, print the head to anchor elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.audit import list_events
from riskops.audit import verify as verify_chain
from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, err_console, parse_time, print_json
from riskops.cli.state import State
from riskops.errors import ConfigError

app = typer.Typer(help="Verify and read the audit trail.", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command()
def verify(
    ctx: typer.Context,
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head recorded earlier, as riskops audit head or verify printed it "
            "('SEQ HASH', the hash, or its first 16 characters): the chain must still contain it.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Recompute the chain, the Merkle log, every decision batch and the lifecycle rows, and
    check them against the signed checkpoints read back from the anchors; exit 1 and name what
    is broken.

    Without [audit] anchors it says "integrity only, not anchored", never a plain pass.

    Example: riskops audit verify
    """
    from riskops.audit.heads import expected_head_problem, parse_expected_head
    from riskops.audit.verification import STATUS_ANCHORED, verify_audit
    from riskops.decisions.sealing import verify_decisions

    state: State = ctx.obj
    context = state.context()
    expected = parse_expected_head(expect_head) if expect_head else None
    report = verify_audit(context.store, context.settings.audit, now=context.clock)
    decisions = verify_decisions(context.store)
    head_problem = None
    if expected is not None:
        head_problem = expected_head_problem(expected, *_head_lookups(context.store))
    ok = report.ok and decisions.ok and head_problem is None
    if as_json:
        print_json(
            {
                **report.as_dict(),
                "ok": ok,
                "anchor_found": (head_problem is None) if expected is not None else None,
                "expected_head": head_problem,
                "decisions": decisions.as_dict(),
            }
        )
    else:
        _print_report(report, decisions, head_problem, anchored=report.status == STATUS_ANCHORED)
    if not ok:
        raise typer.Exit(EXIT_FAILURE)


def _head_lookups(store: Any) -> tuple[Any, Any]:
    from sqlalchemy import select

    from riskops.store.tables import AuditEventRecord

    def hash_at(seq: int) -> str | None:
        with store.reading() as session:
            found = session.get(AuditEventRecord, seq)
            return found.hash if found is not None else None

    def by_prefix(prefix: str) -> list[tuple[int, str]]:
        with store.reading() as session:
            rows = session.execute(
                select(AuditEventRecord.seq, AuditEventRecord.hash).where(
                    AuditEventRecord.hash.startswith(prefix, autoescape=True)
                )
            )
            return [(int(seq), str(h)) for seq, h in rows]

    return hash_at, by_prefix


def _print_report(report: Any, decisions: Any, head_problem: str | None, *, anchored: bool) -> None:
    head = (report.head_hash or "")[:16]
    if report.ok:
        console.print(f"audit chain verified: {report.events} events (head {head})")
    else:
        where = (
            f" at event {report.first_broken_seq}" if report.first_broken_seq is not None else ""
        )
        console.print(f"[red]audit chain BROKEN{where}[/red]:")
        for problem in report.problems:
            console.print(f"  - {problem}")
        if report.first_broken_seq is not None:
            console.print(f"{report.events} events before it verify.")
    if head_problem is not None:
        console.print(f"[red]audit chain BROKEN[/red]: {head_problem}.")
    if report.checkpoints:
        newest = report.checkpoints[-1]
        console.print(
            f"anchored: {len(report.checkpoints)} signed checkpoints read back from the anchors, "
            f"newest size {newest.size} (root {newest.root[:16]}) in {', '.join(newest.anchors)}; "
            f"{report.unanchored_tail} events after it not anchored yet"
        )
    for name, error in sorted(report.anchor_errors.items()):
        console.print(f"[yellow]anchor {name}[/yellow] {error}")
    for note in report.notes:
        console.print(f"[yellow]{note}[/yellow]")
    if decisions.ok:
        console.print(
            f"decision log verified: {decisions.decisions} decisions in {decisions.batches} "
            "sealed batches"
        )
    else:
        console.print(f"[red]decision log BROKEN[/red]: {decisions.reason}.")
    if report.ok and decisions.ok and head_problem is None:
        console.print(
            "[green]verified and anchored[/green]"
            if anchored
            else "[yellow]integrity only, not anchored[/yellow]"
        )


@app.command()
def head(ctx: typer.Context, as_json: Json = False) -> None:
    """Print the chain's head (last event and hash) to record outside the system; pass it
    back later with riskops audit verify --expect-head "SEQ HASH".

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
def checkpoint(ctx: typer.Context, as_json: Json = False) -> None:
    """Sign a checkpoint over every event now and hand it to the anchors (the checkpointer
    also does so by itself after deployments and every N events or T seconds).

    Example: riskops audit checkpoint
    """
    from riskops.audit.log import make_checkpointer

    state: State = ctx.obj
    context = state.context()
    checkpointer = make_checkpointer(context.store, context.settings.audit, context.clock)
    if checkpointer is None:
        raise ConfigError(
            "This workspace has no audit signing key, so it cannot sign checkpoints.",
            hint="Make one with: riskops audit keygen --origin NAME, and add the [audit] table "
            "it prints to riskops.toml (docs/anchors.md).",
        )
    result = checkpointer.checkpoint("manual")
    if as_json:
        print_json(result.as_dict() if result else {"size": None, "note": None})
    elif result is None:
        console.print("Nothing to checkpoint: the newest checkpoint covers every event.")
    else:
        console.print(
            f"checkpoint {result.size} (root {result.root[:16]}) anchored in "
            f"{', '.join(result.anchored) or 'no anchor'}"
        )
        for name, error in sorted(result.failures.items()):
            console.print(f"[red]anchor {name} failed[/red]: {error}")
    if result is not None and len(result.anchored) < (
        context.settings.audit.quorum if context.settings.audit else 1
    ):
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def keygen(
    origin: Annotated[
        str,
        typer.Option(
            "--origin", help="The log's name in every checkpoint, e.g. bank.example/riskops/prod."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the private key (created 0600).")
    ],
) -> None:
    """Make an Ed25519 checkpoint signing key; print the verifier key to pin in [audit].

    Example: riskops audit keygen --origin bank.example/riskops/prod --out /run/secrets/audit.key
    """
    from riskops.audit.note import write_key_file

    signer = write_key_file(out, origin)
    err_console.print(f"Wrote the private key to {out} (mode 0600). Keep it off the database host.")
    console.print(
        "[audit]\n"
        f'origin = "{origin}"\n'
        f'signing_key_file = "{out}"\n'
        f'verifier_keys = ["{signer.verifier().text()}"]',
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="File to write (JSON Lines); '-' for standard output.")
    ] = Path("-"),
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle",
            help="Write an examination bundle into this new folder instead: the events, the "
            "signed checkpoints, every sealed batch's decision digests and how to verify them.",
        ),
    ] = None,
) -> None:
    """Export every audit event verbatim (JSON Lines), or a whole examination bundle, for
    verification outside riskops.

    docs/audit-chain.md defines every byte and shows a verifier that needs only Python.

    Example: riskops audit export --bundle exam-2026-12
    """
    from riskops.audit.export import export_events

    state: State = ctx.obj
    context = state.context()
    if bundle is not None:
        from riskops.decisions.bundle import export_bundle

        summary = export_bundle(context, bundle)
        err_console.print(
            f"Wrote the bundle to {bundle}: {summary['events']} events, "
            f"{summary['checkpoints']} checkpoints, {summary['batches']} decision batches."
        )
        return
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
