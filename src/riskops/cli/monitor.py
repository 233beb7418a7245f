"""``riskops monitor``: watch deployed models — monitoring runs from the decision aggregates."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from riskops.cli.output import console, print_json
from riskops.cli.state import State

app = typer.Typer(
    help="Monitor deployed models: drift, decision rates, alerts.", no_args_is_help=True
)
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("run")
def run(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name, e.g. credit-scoring.")],
    env: Annotated[str, typer.Option("--env", help="The environment to watch.")] = "production",
    window: Annotated[
        str, typer.Option("--window", help="How far back from now: 90m, 24h, 7d (whole hours).")
    ] = "24h",
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="Also send alerts to this Alertmanager-compatible webhook URL (default: "
            "RISKOPS_ALERT_WEBHOOK or alert_webhook in riskops.toml).",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Judge the window's decisions against each deployed version's reference profile: feature
    and prediction drift, data quality, decision rates; store the run (sealed in the audit
    chain) and raise, refresh or resolve alerts.

    Example: riskops monitor run credit-scoring --env production --window 24h
    """
    from riskops.monitoring.notifiers import Notifier, WebhookNotifier
    from riskops.monitoring.runs import parse_window, run_monitoring

    span = parse_window(window)
    state: State = ctx.obj
    context = state.context()
    url = webhook or context.settings.alert_webhook
    notifiers: list[Notifier] = [WebhookNotifier(url)] if url else []
    result = run_monitoring(
        context,
        model,
        environment=env,
        window=span,
        notifiers=notifiers,
        runbook_base=context.settings.runbook_base,
    )
    if as_json:
        print_json(result.as_dict())
        return
    console.print(
        f"monitoring run {result.run_id}: {model} in {env}, {result.window_start:%Y-%m-%d %H:%M} "
        f"→ {result.window_end:%Y-%m-%d %H:%M} UTC (sealed at audit event {result.audit_seq})"
    )
    for note in result.results.get("notes", []):
        console.print(f"  {note}")
    for version in result.results["versions"]:
        _print_version(version)
    for notice in result.fired:
        console.print(
            f"[red]FIRING[/red] {notice.alert} ({notice.labels['severity']}): "
            f"{notice.annotations['summary']} — runbook {notice.annotations['runbook_url']}"
        )
    for notice in result.resolved:
        console.print(f"[green]resolved[/green] {notice.alert} on {notice.labels['target']}")
    for action in result.actions:
        console.print(f"action: {action}")
    for problem in result.undelivered:
        console.print(f"[yellow]not delivered[/yellow]: {problem}")


@app.command("canary")
def canary(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name, e.g. credit-scoring.")],
    env: Annotated[str, typer.Option("--env", help="The environment to watch.")] = "production",
    window: Annotated[
        str, typer.Option("--window", help="How far back from now: 90m, 1h, 7d (whole hours).")
    ] = "1h",
    as_json: Json = False,
) -> None:
    """Compare the challenger (the canary, or else the newest shadow) with the champion on the
    same window: score PSI and KS, decision rates, p99 latency, fallbacks, performance where
    labels exist. By the spec's monitoring.canary rule, promote it or roll it back (as
    riskops-monitor, with the analysis's hash in the audit event).

    Example: riskops monitor canary credit-scoring --env production --window 1h
    """
    from riskops.monitoring.canary import analyse_canary
    from riskops.monitoring.windows import parse_window

    span = parse_window(window)
    state: State = ctx.obj
    result = analyse_canary(state.context(), model, environment=env, window=span)
    if as_json:
        print_json(result.as_dict())
        return
    r = result.results
    console.print(
        f"canary analysis of {model} in {env}: v{result.challenger} ({result.lane}, "
        f"{r['challenger']['n']} decisions) against champion v{result.champion} "
        f"({r['champion']['n']} decisions), {result.window_start:%Y-%m-%d %H:%M} → "
        f"{result.window_end:%Y-%m-%d %H:%M} UTC"
    )
    score = r["score"]
    if score is None:
        console.print("  score: not compared (a version has no profile or no counts)")
    else:
        psi = "n/a" if score["psi"] is None else f"{score['psi']:.4f}"
        ks = "n/a" if score["ks"] is None else f"{score['ks']:.4f} (+{score['ks_bound']:.4f})"
        console.print(f"  score: PSI {psi} (p {score['psi_p_value']:.2g}), KS {ks}")
    for outcome, row in r["rates"].items():
        if row["difference"] is not None:
            console.print(
                f"  {outcome}: {row['challenger']:.1%} against {row['champion']:.1%} "
                f"(p {row['p_value']:.2g})"
            )
    latency = r["latency_ms"]
    console.print(
        f"  p99 latency: {latency['challenger_p99']} ms against {latency['champion_p99']} ms"
    )
    colour = {"pass": "green", "fail": "red"}.get(result.verdict, "yellow")
    console.print(f"[{colour}]{result.verdict}[/{colour}] {'; '.join(result.failed)}")
    console.print(f"action: {result.action}   evidence: {result.results_sha256}")


def _print_version(version: dict[str, Any]) -> None:
    decisions = version["decisions"]
    rates = ", ".join(f"{k} {v:.1%}" for k, v in decisions["rates"].items())
    console.print(
        f"version {version['version']}: {version['n']} decisions ({rates}; fallbacks "
        f"{decisions['fallback_rate']:.2%})"
    )
    for note in version["notes"]:
        console.print(f"  {note}")
    rows = [*version.get("features", []), *([version["score"]] if "score" in version else [])]
    if not rows:
        return
    table = Table("row", "PSI", "p", "JS", "KS ≤ exact ≤ +bound", "missing", box=None)
    for row in rows:
        ks = "" if row.get("ks") is None else f"{row['ks']:.4f} +{row['ks_bound']:.4f}"
        table.add_row(
            row["name"],
            f"{row['psi']:.4f}",
            f"{row['psi_p_value']:.2g}",
            "" if row["jensen_shannon"] is None else f"{row['jensen_shannon']:.4f}",
            ks,
            f"{row['missing_rate']:.2%}",
        )
    console.print(table)
