"""Commands that move a model version through its lifecycle: train, validate, approve, deploy,
rollback. Each parses input, calls one service function, and prints the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json, progress, short
from riskops.cli.state import State
from riskops.errors import InputError

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Env = Annotated[str, typer.Option("--env", help="Target environment.")]


def _params(values: list[str] | None) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"--param {item!r} is not KEY=VALUE.",
                hint="For example: --param num_leaves=16 --param learning_rate=0.05",
            )
        try:
            parsed[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            parsed[key.strip()] = raw
    return parsed


def train(
    ctx: typer.Context,
    spec_path: Annotated[
        Path, typer.Argument(metavar="SPEC", help="Path of the model's model.yaml.")
    ],
    actor: Actor = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Override a trainer param for this run: KEY=VALUE (repeatable)."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Train a model from its spec and register the result as a candidate version.

    Example: riskops train models/credit_scoring/model.yaml --as alice --param num_leaves=16
    """
    from riskops.training.pipeline import train as train_model

    state: State = ctx.obj
    result = train_model(
        state.context(), spec_path, actor=actor, params=_params(param), progress=progress
    )
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"Registered [bold]{result.ref}[/bold] as a candidate.")
    console.print(
        f"  validation AUC {result.metrics['validation_auc']:.3f}, KS {result.metrics['validation_ks']:.3f}"
        f"; digest {short(result.digest)}; data {short(result.data_fingerprint)}"
        f"; code {result.code_commit[:12] if result.code_commit else 'not in git'}"
        + (" (uncommitted changes)" if result.code_dirty and result.code_commit else "")
    )
    console.print(f"Next: riskops validate {result.ref} --as <validator>")


_STATUS_CELL = {
    "passed": "[green]pass[/green]",
    "failed": "[red]FAIL[/red]",
    "not_applicable": "n/a",
    "reported": "reported",
}


def validate(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Run the validation gates on a candidate; it becomes validated or rejected.

    Exits 1 when a blocking gate fails (the version is then rejected).

    Example: riskops validate credit-scoring@1 --as victor
    """
    from riskops.registry.versions import parse_ref
    from riskops.validation.gate import summary_line
    from riskops.validation.run import validate as validate_version

    state: State = ctx.obj
    outcome = validate_version(state.context(), parse_ref(ref), actor=actor, progress=progress)
    if as_json:
        print_json(outcome.as_dict())
    else:
        table = Table(title=f"Gates for {outcome.ref}", title_justify="left")
        for column in ("gate", "value", "threshold", "severity", "result"):
            table.add_column(column)
        for r in outcome.results:
            table.add_row(
                r.gate,
                "-" if r.value is None else f"{r.value:.4f}",
                "-"
                if r.threshold is None or r.comparison == "n/a"
                else f"{r.comparison} {r.threshold:.4f}",
                r.severity,
                _STATUS_CELL[r.status],
            )
        console.print(table)
        console.print(summary_line(outcome.results))
        for r in outcome.results:
            if r.status == "not_applicable":
                reason = r.evidence.get("not_applicable") or r.evidence.get("note", "")
                console.print(
                    f"  not applicable: {r.gate}: {reason}", highlight=False, markup=False
                )
        console.print(
            f"{outcome.ref} is now [bold]{outcome.state}[/bold]"
            + (f" (compared with champion {outcome.champion})" if outcome.champion else "")
        )
        if outcome.passed:
            console.print(f"Next: riskops approve {outcome.ref} --as <validator>")
    if not outcome.passed:
        raise typer.Exit(EXIT_FAILURE)


def approve(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    actor: Actor = None,
    note: Annotated[str, typer.Option("--note", help="Rationale (recorded).")] = "",
    findings: Annotated[
        str, typer.Option("--findings", help="The review's findings (recorded, in the documents).")
    ] = "",
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help='A condition of the approval, e.g. "monitor PSI monthly" (repeatable; '
            "recorded, not enforced).",
        ),
    ] = None,
    blocking_condition: Annotated[
        list[str] | None,
        typer.Option(
            "--blocking-condition",
            help="A condition that blocks deployment to production until a validator or risk "
            "officer closes it with evidence (repeatable).",
        ),
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require",
            help="A condition checked by the platform, blocking production until met: "
            "monitoring_live (a monitoring run of the model in production).",
        ),
    ] = None,
    opinion: Annotated[
        str,
        typer.Option(
            "--opinion",
            help="The validator's written opinion; required when a gate failed or was overridden.",
        ),
    ] = "",
    as_json: Json = False,
) -> None:
    """Sign off a validated version: first its validator, then a risk officer.

    To reject instead: riskops reject MODEL@VERSION --reason TEXT --as NAME

    Example: riskops approve credit-scoring@1 --as victor --opinion "Fit for use; fairness findings 1-2 tracked" --require monitoring_live --condition "monitor PSI monthly"
    """
    from riskops.governance.approvals import approve as approve_version
    from riskops.governance.conditions import KINDS, Condition
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    stated: list[str | Condition] = [*(condition or [])]
    stated += [Condition(text, blocking=True) for text in blocking_condition or []]
    for kind in require or []:
        if kind != "monitoring_live":
            raise InputError(
                f"--require {kind!r} is not a condition the platform checks; it checks: "
                f"{', '.join(k for k in KINDS if k != 'manual')}.",
                hint="For a condition a person closes: --blocking-condition TEXT",
            )
        stated.append(Condition.monitoring_live())
    signed = approve_version(
        state.context(),
        parse_ref(ref),
        actor=actor,
        note=note,
        findings=findings,
        conditions=stated,
        opinion=opinion,
    )
    if as_json:
        print_json(signed.as_dict())
        return
    console.print(
        f"{signed.actor} signed off {signed.ref} as {signed.role.value}; it is [bold]{signed.state}[/bold]."
    )
    if signed.next_step:
        console.print(f"Next: {signed.next_step}")


def deploy(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION")],
    env: Env = "production",
    actor: Actor = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="full (answers every request), canary (answers --share of subjects) or "
            "shadow (scored and logged, never returned).",
        ),
    ] = "full",
    share: Annotated[
        float | None,
        typer.Option("--share", help="Share of subjects a canary answers, e.g. 0.1."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Make an approved version the serving version of an environment, or run it beside the
    champion as a canary or in shadow. Promote a canary by deploying it with --mode full.

    Example: riskops deploy credit-scoring@2 --env production --mode canary --share 0.1 --as oscar
    """
    from riskops.governance.deployments import deploy as deploy_version
    from riskops.registry.versions import parse_ref

    state: State = ctx.obj
    done = deploy_version(
        state.context(),
        parse_ref(ref),
        environment=env,
        actor=actor,
        reason=reason,
        mode=mode,  # type: ignore[arg-type]  # checked by the service, which names the valid modes
        share=share,
    )
    if as_json:
        print_json(done.as_dict())
        return
    if done.mode == "canary":
        console.print(
            f"{done.ref} answers {done.share:.1%} of subjects in [bold]{done.environment}"
            f"[/bold] as a canary beside v{done.previous_version}."
        )
        return
    if done.mode == "shadow":
        console.print(
            f"{done.ref} runs in shadow in [bold]{done.environment}[/bold] beside "
            f"v{done.previous_version}: scored and logged, never returned."
        )
        return
    was = f" (replacing v{done.previous_version})" if done.previous_version else ""
    console.print(f"{done.ref} now serves in [bold]{done.environment}[/bold]{was}.")


def rollback(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL")],
    env: Env = "production",
    to: Annotated[
        int | None, typer.Option("--to", help="Return to this version instead of the previous one.")
    ] = None,
    actor: Actor = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    as_json: Json = False,
) -> None:
    """Return an environment to the version that served before the current one.

    Example: riskops rollback credit-scoring --env production --as oscar --reason "drift alert"
    """
    from riskops.governance.deployments import rollback as rollback_version

    state: State = ctx.obj
    done = rollback_version(
        state.context(), model, environment=env, actor=actor, to_version=to, reason=reason
    )
    if as_json:
        print_json(done.as_dict())
        return
    console.print(
        f"Rolled {done.environment} back from v{done.previous_version} to [bold]{done.ref}[/bold]."
    )


def register(app: typer.Typer) -> None:
    for command in (train, validate, approve, deploy, rollback):
        app.command()(command)
