"""Store commands (``riskops db``): migrate the schema, check it, and print the grants of a
least-privilege runtime role. Run ``upgrade`` and ``grants`` as the role that owns the tables."""

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
        typer.Option("--owner-role", help="The role that owns the tables and migrates them."),
    ] = None,
) -> None:
    """Print the PostgreSQL SQL that makes a least-privilege runtime role: it reads and adds
    rows, changes them only where riskops does, and owns nothing (so it cannot alter or drop a
    table or the audit chain's triggers). Pipe it to psql as an administrator.

    Example: riskops db grants --runtime-role riskops_runtime --owner-role riskops_owner | psql
    """
    from riskops.store.grants import as_script, runtime_grants

    with _store(ctx) as store:
        statements = runtime_grants(store, runtime_role, owner_role=owner_role)
    typer.echo(as_script(statements), nl=False)
