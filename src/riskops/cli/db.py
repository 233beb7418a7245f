"""Store commands (``riskops db``): migrate the schema, check it, and print the SQL of the
PostgreSQL roles (docs/database-roles.md). Run ``upgrade`` as the owner role (or a superuser
migration login); ``grants`` prints a script for a superuser to run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json
from riskops.cli.state import State
from riskops.store import Store, open_store

app = typer.Typer(help="The store's schema and roles.", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@contextmanager
def _store(ctx: typer.Context) -> Iterator[Store]:
    state: State = ctx.obj
    store = open_store(state.settings().database_url, migrate=False)
    try:
        yield store
    finally:
        store.dispose()


@app.command("upgrade")
def upgrade(ctx: typer.Context, as_json: Json = False) -> None:
    """Migrate the store's schema to this riskops's newest revision (idempotent).

    Run it once per release, as the owner role, before the servers start (a Kubernetes Job).

    Example: RISKOPS_DATABASE_URL=postgresql+psycopg://riskops_owner@db/riskops riskops db upgrade
    """
    from riskops.store.schema import upgrade as run_upgrade

    with _store(ctx) as store:
        before, after = run_upgrade(store)
    if as_json:
        print_json({"before": before.as_dict(), "after": after.as_dict()})
        return
    if before.up_to_date:
        console.print(f"Nothing to do: {after.describe()}.")
    else:
        console.print(f"Migrated from {before.current or 'an empty store'} to {after.head}.")


@app.command("check")
def check(ctx: typer.Context, as_json: Json = False) -> None:
    """Say whether the store's schema is current; exit 1 (with the fix) if it is not.

    Example: riskops db check
    """
    from riskops.store.schema import UPGRADE, schema_state

    with _store(ctx) as store:
        state = schema_state(store)
    if as_json:
        print_json(state.as_dict())
    else:
        console.print(state.describe().capitalize() + ".")
        if not state.up_to_date:
            fix = (
                f"As the owner role, run: {UPGRADE}"
                if state.known
                else "Run the riskops version that migrated it (or a newer one)."
            )
            console.print(f"Fix: {fix}")
    if not state.up_to_date:
        raise typer.Exit(EXIT_FAILURE)


@app.command("grants")
def grants(
    ctx: typer.Context,
    runtime_role: Annotated[
        str, typer.Option("--runtime-role", help="The role serving and the CLI log in as.")
    ],
    owner_role: Annotated[
        str | None,
        typer.Option(
            "--owner-role",
            help="The NOLOGIN role that owns the tables and functions; migrations run as it.",
        ),
    ] = None,
    auditor_role: Annotated[
        str | None,
        typer.Option("--auditor-role", help="A read-only role for examiners."),
    ] = None,
    anchor_role: Annotated[
        str | None,
        typer.Option("--anchor-role", help="A read-only role for the checkpoint anchoring."),
    ] = None,
) -> None:
    """Print the PostgreSQL script, for a superuser to run, that makes the store's roles: the
    owner (NOLOGIN, owns the tables and the append function), the runtime role (reads, inserts
    where riskops does, appends audit events only through append_events(), owns nothing), the
    read-only auditor and anchor roles, and the event trigger that refuses DISABLE TRIGGER,
    DROP TRIGGER, RENAME and DROP on the audit tables even to their owner. Comments in the
    script say who runs what; see docs/database-roles.md.

    Example: riskops db grants --runtime-role riskops_runtime --owner-role riskops_owner
    --auditor-role riskops_auditor --anchor-role riskops_anchor | psql -v ON_ERROR_STOP=1
    postgresql://postgres@db/riskops
    """
    from riskops.store.grants import as_script, runtime_grants

    with _store(ctx) as store:
        statements = runtime_grants(
            store,
            runtime_role,
            owner_role=owner_role,
            auditor_role=auditor_role,
            anchor_role=anchor_role,
        )
    typer.echo(as_script(statements), nl=False)
