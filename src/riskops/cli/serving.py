"""Serving commands: API keys (``riskops keys``) and the scoring server (``riskops serve``).
Each parses input, calls one service function, and prints the result."""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from riskops.cli.output import console, print_json
from riskops.cli.state import State
from riskops.errors import InputError

if TYPE_CHECKING:  # serving is imported only when a command runs
    from riskops.serving.service import ServerSettings

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
MAX_WORKERS = 64

keys = typer.Typer(help="API keys of the scoring service.", no_args_is_help=True)


@keys.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. loan-portal.")],
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            help="The client the key belongs to (required): it reads back only this client's "
            "decisions.",
        ),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="score, read_decisions, audit or admin (repeatable)."),
    ] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Make an API key for a client; it is printed once and only its hash is stored.

    Example: riskops keys create loan-portal --client acme-bank --scope score --as oscar
    """
    from riskops.serving.auth import create_key

    state: State = ctx.obj
    made = create_key(state.context(), name, client=client, scopes=scope or [], actor=actor)
    if as_json:
        print_json({**made.key.as_dict(), "key": made.token})
        return
    console.print(
        f"API key for [bold]{made.key.name}[/bold] of client [bold]{made.key.client}[/bold] "
        f"({', '.join(made.key.scopes)}):"
    )
    console.print(made.token)
    console.print(
        "Store it now: it is not shown again. Revoke it with: riskops keys revoke "
        + made.key.prefix
    )


@keys.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List API keys by prefix, with their client, scopes and state (never their secrets).

    Example: riskops keys list --json
    """
    from riskops.serving.auth import list_keys

    state: State = ctx.obj
    found = list_keys(state.context())
    if as_json:
        print_json([k.as_dict() for k in found])
        return
    table = Table(title="API keys", title_justify="left")
    for column in ("prefix", "name", "client", "scopes", "created by", "created", "state"):
        table.add_column(column)
    for k in found:
        table.add_row(
            k.prefix,
            k.name,
            k.client,
            ", ".join(k.scopes),
            k.created_by,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@keys.command("revoke")
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix, as riskops keys list shows.")],
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Revoke an API key; running servers refuse it within their refresh interval.

    Example: riskops keys revoke 1f2e3d4c --as oscar
    """
    from riskops.serving.auth import revoke_key

    state: State = ctx.obj
    done = revoke_key(state.context(), prefix, actor=actor)
    if as_json:
        print_json(done.as_dict())
        return
    console.print(f"Revoked the API key {done.prefix} ({done.name}).")


def serve(
    ctx: typer.Context,
    env: Annotated[
        str, typer.Option("--env", help="The environment whose deployments serve.")
    ] = "production",
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes sharing the port (1).")
    ] = 1,
    refresh_seconds: Annotated[
        float, typer.Option("--refresh-seconds", help="How often deployments are re-read.")
    ] = 2.0,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Most subjects per batch.")] = 1000,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body accepted.")
    ] = 1_048_576,
    unknown_category: Annotated[
        str,
        typer.Option("--unknown-category", help="reject (422) or missing (scored as missing)."),
    ] = "reject",
    flush_interval: Annotated[
        float,
        typer.Option(
            "--flush-interval",
            hidden=True,
            help="Seconds between decision-log flushes to the store (tests set it long to "
            "leave decisions in the write-ahead log).",
        ),
    ] = 0.2,
    flusher: Annotated[
        str,
        typer.Option(
            "--flusher",
            help="Where decisions move from the write-ahead log to the store: process (a "
            "process of its own, the default) or thread (inside the server).",
        ),
    ] = "process",
    model_timeout_ms: Annotated[
        float,
        typer.Option(
            "--model-timeout-ms",
            help="A single decision whose model call takes longer gets the safe outcome "
            "(model unavailable); 0 turns the deadline off.",
        ),
    ] = 100.0,
    max_reads: Annotated[
        int,
        typer.Option(
            "--max-reads",
            help="Decision reads (GET /v1/decisions/{id}) answered at once; one more gets a "
            "503 with Retry-After at once, so reads never hold up scoring.",
        ),
    ] = 8,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve /metrics on this port (on --host) instead of the scoring port, where "
            "/metrics then answers 404.",
        ),
    ] = None,
    docs: Annotated[
        bool,
        typer.Option("--docs/--no-docs", help="Serve /docs, /redoc and /openapi.json."),
    ] = True,
) -> None:
    """Serve the deployed, approved models of an environment over HTTP.

    With --workers N, N processes share the port; each keeps its decisions in a WAL folder of
    its own (RISKOPS_WAL_DIR/<env>/worker-K) and runs its own flusher.

    Example: riskops serve --env production --host 127.0.0.1 --port 8080 --workers 2
    """
    import uvicorn

    from riskops.serving.service import ServerSettings, preflight

    if not 1 <= workers <= MAX_WORKERS:
        raise InputError(
            f"--workers {workers}: give a number of worker processes from 1 to {MAX_WORKERS}.",
            hint="One per core is a good start: riskops serve --workers 2",
        )
    if max_reads < 1:
        raise InputError(
            f"--max-reads {max_reads}: at least one decision read must be allowed at a time.",
            hint="riskops serve --max-reads 8",
        )
    if metrics_port is not None:
        if workers != 1:
            raise InputError(
                f"--metrics-port {metrics_port} with --workers {workers}: the workers cannot "
                "share one metrics listener.",
                hint="Run one process per pod with --metrics-port (replicas), or drop "
                "--metrics-port to serve /metrics on the scoring port.",
            )
        _check_metrics_port(host, port, metrics_port)
    state: State = ctx.obj
    workspace = state.settings()
    settings = ServerSettings(
        workspace=workspace,
        environment=env,
        refresh_seconds=refresh_seconds,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        unknown_category=unknown_category,  # type: ignore[arg-type]  # checked by ServerSettings
        flush_interval=flush_interval,
        flusher=flusher,  # type: ignore[arg-type]  # checked by ServerSettings
        model_timeout_ms=model_timeout_ms or None,
        max_concurrent_reads=max_reads,
        metrics_port=metrics_port,
        metrics_host=host,
        docs=docs,
    )
    # Refusals (schema behind, another workspace secret) as a clear error here, once, rather
    # than in each worker's start-up log.
    preflight(settings)
    # Every worker builds its app from the environment (riskops.serving.app:app_from_env).
    os.environ.update(_environment(settings))
    # No proxy-header rewriting: the service never uses the client's address.
    uvicorn.run(
        "riskops.serving.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_log_config(),
        access_log=False,
        proxy_headers=False,
    )


def _environment(settings: ServerSettings) -> dict[str, str]:
    """The environment that rebuilds ``settings`` in a worker (see riskops.config)."""
    from riskops.config import SERVING_VARIABLES

    values = {"RISKOPS_HOME": str(settings.workspace.home)}
    for name, (field, _kind) in SERVING_VARIABLES.items():
        value = getattr(settings, field)
        if value is None and field == "model_timeout_ms":
            values[name] = "0"  # 0 turns the deadline off
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        else:
            values[name] = "" if value is None else str(value)  # "" is unset
    return values


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the server's own operational messages (routing table, refused
    versions, flushes) at INFO on the same handler, in every worker."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["riskops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _check_metrics_port(host: str, port: int, metrics_port: int) -> None:
    """Refuse a metrics port that is out of range, the scoring port, or taken, before the
    server starts (a listener that fails later would only be a line in the server's log)."""
    import socket

    if not 1 <= metrics_port <= 65535 or metrics_port == port:
        raise InputError(
            f"--metrics-port {metrics_port}: it must be from 1 to 65535 and differ from "
            f"--port {port}.",
            hint="For example: riskops serve --port 8080 --metrics-port 9100",
        )
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, metrics_port))
        except OSError as exc:
            raise InputError(
                f"--metrics-port {metrics_port}: cannot listen on {host}:{metrics_port} "
                f"({exc.strerror or exc}).",
                hint="Choose a free port, e.g. --metrics-port 9100",
            ) from None


def register(app: typer.Typer) -> None:
    app.add_typer(keys, name="keys")
    app.command()(serve)
