"""Commands that show models: ``riskops models`` and ``riskops show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from riskops.cli.output import console, parse_time, print_json, short
from riskops.cli.state import State
from riskops.registry.versions import parse_ref

if TYPE_CHECKING:
    from riskops.governance.inventory import ModelView

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _state_label(state: str, serving_in: tuple[str, ...]) -> str:
    if "production" in serving_in:
        return f"{state}, [bold green]production[/bold green]"
    if serving_in:
        return f"{state}, serving in {', '.join(serving_in)}"
    return state


def _versions_table(view: ModelView, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in (
        "version",
        "state",
        "val. AUC",
        "gates",
        "approvals",
        "trained by",
        "digest",
        "data",
        "code",
    ):
        table.add_column(column)
    for v in view.versions:
        gates = "-"
        if v.gates:
            failed = [g["gate"] for g in v.gates if not g["passed"]]
            gates = "all passed" if not failed else "failed: " + ", ".join(failed)
        approvals = (
            ", ".join(
                f"{a['actor']} ({a['role']}"
                + (", rejected" if a.get("decision") == "reject" else "")
                + ")"
                for a in v.approvals
            )
            or "-"
        )
        commit = v.lineage["code_commit"]
        code = (commit[:10] if commit else "no git") + (
            "*" if v.lineage["code_dirty"] and commit else ""
        )
        table.add_row(
            str(v.ref.version),
            _state_label(v.state, v.serving_in),
            f"{v.metrics.get('validation_auc', float('nan')):.3f}",
            gates,
            approvals,
            v.trained_by,
            short(v.lineage["digest"]),
            short(v.lineage["data_fingerprint"]),
            code,
        )
    return table


def models(ctx: typer.Context, as_json: Json = False) -> None:
    """List every model with its versions, states and where each serves.

    Example: riskops models --json
    """
    from riskops.governance.inventory import list_models

    state: State = ctx.obj
    views = list_models(state.context())
    if as_json:
        print_json([v.as_dict() for v in views])
        return
    if not views:
        console.print(
            "No models yet. Train one: riskops train models/credit_scoring/model.yaml --as <developer>"
        )
        return
    for view in views:
        serving = (
            ", ".join(f"{env}: v{v}" for env, v in view.serving.items() if v) or "nothing deployed"
        )
        console.print(
            _versions_table(
                view, f"{view.name} (tier {view.risk_tier}, owner {view.owner}; {serving})"
            )
        )


def show(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(metavar="MODEL[@VERSION]")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Say what served at this time (ISO 8601, UTC unless a zone is given)."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Show a model's versions with state, metrics, approvals, gates and lineage, and its
    deployment history; with --at, which version served in each environment at that moment.

    Example: riskops show credit-scoring --at 2026-11-29T14:03:00Z
    """
    from riskops.governance.inventory import describe_model

    state: State = ctx.obj
    moment = parse_time(at, option="--at") if at else None
    version = None
    name = target
    if "@" in target:
        ref = parse_ref(target)
        name, version = ref.name, ref.version
    view = describe_model(state.context(), name, at=moment)
    if version is not None:
        selected = [v for v in view.versions if v.ref.version == version]
        if not selected:
            parse_ref(target)  # well-formed; the version itself is missing
            from riskops.errors import NotFoundError

            raise NotFoundError(
                f"{target} does not exist.", hint=f"riskops show {name} lists its versions."
            )
        if as_json:
            print_json(selected[0].as_dict())
            return
        _print_version(selected[0].as_dict())
        return
    if as_json:
        print_json(view.as_dict())
        return
    console.print(f"[bold]{view.name}[/bold] — tier {view.risk_tier}, owner {view.owner}")
    console.print(f"Intended use: {view.intended_use}")
    if moment is not None:
        when = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
        for env, v in view.serving.items():
            console.print(
                f"At {when}, {env}: " + (f"[bold]v{v}[/bold]" if v else "nothing deployed")
            )
    else:
        for env, v in view.serving.items():
            console.print(f"{env}: " + (f"v{v}" if v else "nothing deployed"))
    console.print(_versions_table(view, "Versions"))
    if view.deployments:
        table = Table(title="Deployment history", title_justify="left")
        for column in (
            "time (UTC)",
            "environment",
            "action",
            "version",
            "previous",
            "by",
            "reason",
        ):
            table.add_column(column)
        for d in view.deployments:
            table.add_row(
                d["at"][:19].replace("T", " "),
                d["environment"],
                d["action"],
                f"v{d['version']}",
                f"v{d['previous_version']}" if d["previous_version"] else "-",
                d["actor"],
                d["reason"] or "-",
            )
        console.print(table)


def _print_version(view: dict[str, object]) -> None:
    for key, value in view.items():
        console.print(f"[bold]{key}[/bold]: {value}")


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(show)
