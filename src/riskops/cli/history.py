"""``riskops history``: the online store of transaction histories that scoring servers read
for models with a spec ``history`` section (docs/history-features.md). ``backfill`` loads a
spec's training data as the history; ``label`` records a transaction's late-arriving label.
The store is ``RISKOPS_HISTORY_URL`` (default: SQLite in the workspace) or ``--url``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.output import console, print_json
from riskops.cli.state import State

app = typer.Typer(help="Transaction histories for history features.", no_args_is_help=True)

Url = Annotated[
    str | None,
    typer.Option(
        "--url", help="The online store (default: RISKOPS_HISTORY_URL or the workspace's)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("backfill")
def backfill_command(
    ctx: typer.Context,
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="A model.yaml with history.")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Load the spec's data (data.source) into the online store as the model's history,
    labels included. A transaction already kept is left as it is, so it can be run again.

    Example: riskops history backfill models/transaction_risk/model.yaml
    """
    from riskops.errors import InputError
    from riskops.history.offline import backfill
    from riskops.history.store import open_online_store
    from riskops.spec import load_spec

    state: State = ctx.obj
    loaded = load_spec(spec_path)
    if loaded.spec.history is None:
        raise InputError(
            f"The spec {spec_path} has no history section: there is nothing to backfill.",
            hint="Backfill a spec that declares history, e.g. models/transaction_risk/model.yaml",
        )
    target = url or state.settings().history_url
    store = open_online_store(target)
    try:
        rows, new = backfill(store, loaded)
    finally:
        store.close()
    if as_json:
        print_json({"model": loaded.spec.name, "store": target, "rows": rows, "new": new})
        return
    console.print(
        f"Backfilled the history of {loaded.spec.name} in {target}: {rows} transaction(s) "
        f"read, {new} new."
    )


@app.command("label")
def label_command(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(metavar="MODEL", help="The model, e.g. transaction-risk.")
    ],
    event_id: Annotated[str, typer.Argument(metavar="TRANSACTION_ID")],
    fraud: Annotated[
        bool,
        typer.Option("--fraud/--genuine", help="The transaction's label, once it is known."),
    ],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Record the label of a decided (or backfilled) transaction. Fraud-rate features use it
    once the transaction is older than the spec's label_delay_days.

    Example: riskops history label transaction-risk 1234567 --fraud
    """
    from riskops.history.online import record_label
    from riskops.history.store import open_online_store

    state: State = ctx.obj
    target = url or state.settings().history_url
    store = open_online_store(target)
    try:
        record_label(store, model, event_id, fraud=fraud)
    finally:
        store.close()
    if as_json:
        print_json({"model": model, "transaction": event_id, "fraud": fraud, "store": target})
        return
    console.print(
        f"Labelled transaction {event_id} of {model} as {'fraud' if fraud else 'genuine'}."
    )
