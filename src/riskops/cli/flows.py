"""``riskops flows``: the pipelines as Prefect flows — run one now, or serve them on schedules.

Needs the ``prefect`` extra and a Prefect API (``PREFECT_API_URL``); each command says what to
install or set when one is missing. Prefect is imported only when one of these commands runs,
so the rest of the CLI works without it. See docs/flows.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json
from riskops.cli.state import State
from riskops.errors import InputError

app = typer.Typer(
    help="Run the pipelines as Prefect flows, once or on schedules (needs riskops[prefect]).",
    no_args_is_help=True,
)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Retries = Annotated[
    int, typer.Option("--retries", help="Retries of a step that failed on a transient error.")
]
RetryDelay = Annotated[float, typer.Option("--retry-delay", help="Seconds between those retries.")]
TrainedBy = Annotated[
    str | None, typer.Option("--trained-by", help="The developer who trains (in riskops.toml).")
]
ValidatedBy = Annotated[
    str | None,
    typer.Option("--validated-by", help="The validator who validates (never the trainer)."),
]


def _workspace(ctx: typer.Context) -> str:
    state: State = ctx.obj
    return str(state.settings().home)


def _ready() -> None:
    """Prefect installed (else MissingExtraError) and a Prefect API set (else ConfigError)."""
    import riskops.flows  # noqa: F401  # raises MissingExtraError without the extra
    from riskops.flows.pipelines import prefect_api_url

    prefect_api_url()


def _people(trained_by: str | None, validated_by: str | None) -> tuple[str, str]:
    if not trained_by or not validated_by:
        raise InputError(
            "Training and validating need two people: --trained-by and --validated-by.",
            hint="For example: --trained-by alice --validated-by victor (roles in riskops.toml).",
        )
    return trained_by, validated_by


@app.command("train")
def train(
    ctx: typer.Context,
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="Path of the model's model.yaml.")
    ],
    trained_by: TrainedBy = None,
    validated_by: ValidatedBy = None,
    retries: Retries = 2,
    retry_delay: RetryDelay = 30.0,
    as_json: Json = False,
) -> None:
    """Run train → validate once as a flow; exits 1 if a blocking gate fails.

    Example: riskops flows train models/credit_scoring/model.yaml --trained-by alice --validated-by victor
    """
    developer, validator = _people(trained_by, validated_by)
    _ready()
    from riskops.flows.pipelines import train_and_validate_flow

    result: dict[str, Any] = train_and_validate_flow(
        str(spec_path.expanduser().absolute()),
        _workspace(ctx),
        trained_by=developer,
        validated_by=validator,
        retries=retries,
        retry_delay_seconds=retry_delay,
    )
    if as_json:
        print_json(result)
    else:
        failed = result["validation"]["failed_gates"]
        console.print(
            f"{result['model']} is now [bold]{result['state']}[/bold]"
            + (f" (failed: {', '.join(failed)})" if failed else "")
        )
        if result["passed"]:
            console.print(f"Next: riskops approve {result['model']} --as <validator>")
    if not result["passed"]:
        raise typer.Exit(EXIT_FAILURE)


@app.command("monitor")
def monitor(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name, e.g. credit-scoring.")],
    env: Annotated[str, typer.Option("--env", help="The environment to watch.")] = "production",
    window: Annotated[str, typer.Option("--window", help="90m, 24h, 7d (whole hours).")] = "24h",
    retries: Retries = 2,
    retry_delay: RetryDelay = 30.0,
    as_json: Json = False,
) -> None:
    """Run one monitoring run as a flow.

    Example: riskops flows monitor credit-scoring --env production --window 24h
    """
    _ready()
    from riskops.flows.pipelines import monitoring_run_flow

    result = monitoring_run_flow(
        model,
        _workspace(ctx),
        environment=env,
        window=window,
        retries=retries,
        retry_delay_seconds=retry_delay,
    )
    if as_json:
        print_json(result)
        return
    console.print(
        f"monitoring run {result['run_id']}: {model} in {env} (sealed at audit event "
        f"{result['audit_seq']}); {len(result['fired'])} fired, {len(result['resolved'])} resolved"
    )
    for action in result["actions"]:
        console.print(f"action: {action}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    monitor: Annotated[
        list[str] | None,
        typer.Option("--monitor", metavar="MODEL", help="Monitor this model (repeatable)."),
    ] = None,
    env: Annotated[str, typer.Option("--env", help="The environment monitored.")] = "production",
    window: Annotated[str, typer.Option("--window", help="Each monitoring run's window.")] = "24h",
    monitor_cron: Annotated[
        str, typer.Option("--monitor-cron", help="When monitoring runs (cron, UTC).")
    ] = "5 * * * *",
    retrain: Annotated[
        list[Path] | None,
        typer.Option("--retrain", metavar="SPEC", help="Retrain this spec (repeatable)."),
    ] = None,
    trained_by: TrainedBy = None,
    validated_by: ValidatedBy = None,
    retrain_cron: Annotated[
        str, typer.Option("--retrain-cron", help="When retraining runs (cron, UTC).")
    ] = "0 3 1 * *",
    retries: Retries = 2,
    retry_delay: RetryDelay = 30.0,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many flow runs at once.")
    ] = None,
) -> None:
    """Serve the monitoring runs (hourly by default) and the retraining (monthly by default)
    as scheduled Prefect deployments, running their flow runs in this process until stopped.

    Example: riskops flows serve --monitor credit-scoring --retrain models/credit_scoring/model.yaml --trained-by alice --validated-by victor
    """
    if not monitor and not retrain:
        raise InputError(
            "Nothing to serve: give --monitor MODEL or --retrain SPEC (or both).",
            hint="For example: riskops flows serve --monitor credit-scoring",
        )
    _ready()
    from riskops.flows.deployments import monitoring_deployment, retrain_deployment
    from riskops.flows.deployments import serve as serve_deployments

    workspace = _workspace(ctx)
    deployments = [
        monitoring_deployment(
            model,
            workspace=workspace,
            environment=env,
            window=window,
            cron=monitor_cron,
            retries=retries,
            retry_delay_seconds=retry_delay,
        )
        for model in monitor or []
    ]
    if retrain:
        developer, validator = _people(trained_by, validated_by)
        deployments += [
            retrain_deployment(
                spec,
                workspace=workspace,
                trained_by=developer,
                validated_by=validator,
                cron=retrain_cron,
                retries=retries,
                retry_delay_seconds=retry_delay,
            )
            for spec in retrain
        ]
    for deployment in deployments:
        cron = monitor_cron if "monitoring" in (deployment.tags or []) else retrain_cron
        console.print(f"serving {deployment.name} on cron {cron!r} (UTC)")
    serve_deployments(*deployments, limit=limit)
