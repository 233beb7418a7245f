"""``riskops monitor``: watch deployed models — monitoring runs from the decision aggregates, and
``monitor compare REF CUR --spec model.yaml``: two Parquet/CSV files compared exactly (see
:mod:`riskops.monitoring.compare`), on bins fitted on REF or, with ``--model NAME@VERSION`` (or
``--profile FILE``), on a registered version's frozen bins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from riskops.cli.output import console, print_json, progress
from riskops.cli.state import State
from riskops.errors import InputError
from riskops.spec import load_spec

if TYPE_CHECKING:
    from riskops.profiles.profile import ReferenceProfile

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


@app.command()
def compare(
    ctx: typer.Context,
    reference: Annotated[Path, typer.Argument(metavar="REF", help="Reference Parquet/CSV file.")],
    current: Annotated[Path, typer.Argument(metavar="CUR", help="Current Parquet/CSV file.")],
    spec_path: Annotated[
        Path, typer.Option("--spec", help="The model.yaml whose features are compared.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="NAME@VERSION",
            help="Bin on this registered version's reference profile (verified).",
        ),
    ] = None,
    profile_path: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="A version's reference profile (JSON): bin on its frozen edges "
            "instead of edges fitted on REF.",
        ),
    ] = None,
    multivariate: Annotated[
        bool,
        typer.Option("--multivariate/--no-multivariate", help="Also run the domain classifier."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the result as JSON to this file.")
    ] = None,
) -> None:
    """Compare two files feature by feature: PSI, JS, Hellinger, chi-square, exact KS and
    Wasserstein, missing/out-of-range/unseen rates, and a domain classifier.

    Example: riskops monitor compare ref.parquet cur.parquet --spec models/credit_scoring/model.yaml
    """
    from riskops.monitoring.compare import compare_files

    spec = load_spec(spec_path).spec
    if model is not None and profile_path is not None:
        raise InputError(
            "--model and --profile both name the bins to use; give one.",
            hint="--model NAME@VERSION reads the registered version's profile; --profile FILE "
            "reads a profile document.",
        )
    profile = _read_profile(profile_path) if profile_path is not None else None
    if model is not None:
        from riskops.monitoring.reference import registered_profile
        from riskops.registry.versions import parse_ref

        state: State = ctx.obj
        profile = registered_profile(state.context(), parse_ref(model))
    result = compare_files(
        reference,
        current,
        spec,
        profile=profile,
        multivariate=multivariate,
        progress=None if as_json else progress,
    )
    body = result.as_dict()
    if out is not None:
        out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(body)
        return
    table = Table(
        title=f"{result.reference} ({result.reference_rows:,} rows) → "
        f"{result.current} ({result.current_rows:,} rows); bins {result.profile}"
    )
    for header in (
        "feature",
        "type",
        "PSI",
        "JS",
        "Hellinger",
        "χ² p",
        "KS",
        "KS p",
        "W1/σ",
        "missing",
        "out of range",
        "unseen",
    ):
        table.add_column(header, justify="left" if header in {"feature", "type"} else "right")
    for f in result.features:
        table.add_row(
            f.feature,
            f.type,
            f"{f.psi:.4f}",
            f"{f.jensen_shannon:.4f}",
            f"{f.hellinger:.4f}",
            _p(f.chi_square_p),
            _num(f.ks),
            _p(f.ks_p),
            _num(f.wasserstein_normed),
            f"{f.missing_current:.2%}",
            "-" if f.out_of_range_current is None else f"{f.out_of_range_current:.2%}",
            "-" if f.unseen_current is None else f"{f.unseen_current:.2%}",
        )
    console.print(table)
    classifier = result.multivariate
    if classifier is not None:
        drivers = ", ".join(f"{i.feature} ({i.gain_share:.0%})" for i in classifier.top[:3])
        sample = (
            f"seeded subsample of {classifier.used_reference_rows:,} + "
            f"{classifier.used_current_rows:,} rows"
            if classifier.subsampled
            else "all rows"
        )
        console.print(
            f"Domain classifier AUC {classifier.auc:.3f} "
            f"[{classifier.low:.3f}, {classifier.high:.3f}] ({classifier.confidence:.0%} DeLong, "
            f"{classifier.held_out_rows:,} held-out rows, {sample}); drivers: {drivers or '-'}"
        )
    if out is not None:
        console.print(f"Wrote {out}")


def _read_profile(path: Path) -> ReferenceProfile:
    from riskops.profiles.profile import ReferenceProfile

    if not path.is_file():
        raise InputError(
            f"No reference profile at {path}.",
            hint="Pass the reference_profile.json written when the version was registered.",
        )
    return ReferenceProfile.from_json(path.read_bytes())


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


@app.command("report")
def report(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name, e.g. credit-scoring.")],
    env: Annotated[str, typer.Option("--env", help="The environment watched.")] = "production",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The HTML file to write (default: MODEL-ENV-monitoring.html here).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML file about the model's latest monitoring run: per version
    the reference and window distributions, the drift table with its thresholds and FDR
    decisions, decision rates against the reference, performance and the vintage matrix when
    labels exist, and the alert timeline with runbook links.

    Example: riskops monitor report credit-scoring --env production --out monitoring.html
    """
    from riskops.documents.monitoring import write_monitoring_report

    state: State = ctx.obj
    path = write_monitoring_report(state.context(), model, out, environment=env)
    console.print(f"Monitoring report of {model} in {env}: {path}")
