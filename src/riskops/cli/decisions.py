"""Decision commands (``riskops decisions``): show a logged decision with its reasons, and replay
it with the exact model version that made it. Each parses input, calls one service function,
and prints the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from riskops.cli.errors import EXIT_FAILURE
from riskops.cli.output import console, print_json, short
from riskops.cli.state import State

Actor = Annotated[
    str | None,
    typer.Option("--as", envvar="RISKOPS_ACTOR", help="Who does this (a name in riskops.toml)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DecisionId = Annotated[
    str, typer.Argument(metavar="DECISION_ID", help="The decision_id the scoring API returned.")
]

app = typer.Typer(help="Logged decisions: show, replay and prove.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, decision_id: DecisionId, as_json: Json = False) -> None:
    """Show a stored decision with its reasons (GDPR Art. 15 and 22).

    What a customer is given about a decision: never its features or the subject's pseudonym.

    Example: riskops decisions show 0b7c2a4e-4a1f-4c8e-9a51-6f0d2f3b9e10 --json
    """
    from riskops.decisions.replay import stored_decision
    from riskops.decisions.sink import stored_view

    state: State = ctx.obj
    view = stored_view(stored_decision(state.context(), decision_id))
    if as_json:
        print_json(view)
        return
    score = "-" if view["score"] is None else f"{view['score']:.4f}"
    console.print(
        f"Decision {view['decision_id']} at {view['decided_at']}: [bold]{view['decision']}[/bold]"
        f" (score {score}) by {view['model']}@{view['version']} ({short(view['digest'])}), "
        f"route {view['route']}{'' if view['served'] else ', not served'}"
        f"{', FALLBACK' if view['fallback'] else ''}."
    )
    if not view["reasons"]:
        console.print("No reasons were given (an approval, unless explanation was requested).")
    for reason in view["reasons"]:
        console.print(f"  - {reason['text']} ({reason['code']} = {reason.get('value')!r})")


@app.command("replay")
def replay(
    ctx: typer.Context, decision_id: DecisionId, actor: Actor = None, as_json: Json = False
) -> None:
    """Recompute a decision with the exact model version that made it (exit 1 on a mismatch).

    The version's artifact must still have the digest the decision recorded; the features are
    decrypted with the subject's key, so an erased subject's decisions cannot be replayed.

    Example: riskops decisions replay 0b7c2a4e-4a1f-4c8e-9a51-6f0d2f3b9e10 --as audrey
    """
    from riskops.decisions.replay import replay_decision

    state: State = ctx.obj
    result = replay_decision(state.context(), decision_id, actor=actor)
    if as_json:
        print_json(result.as_dict())
    else:
        verdict = "[green]matches[/green]" if result.matches else "[bold red]DIFFERS[/bold red]"
        console.print(
            f"Decision {result.decision_id} replayed with {result.model_ref} "
            f"({short(result.digest)}): {verdict}."
        )
        console.print(
            f"  score     stored {result.stored_score!r}, replayed {result.replayed_score!r} "
            f"({result.score_match})"
        )
        if result.score_note:
            console.print(f"            {result.score_note}")
        console.print(
            f"  decision  stored {result.stored_decision}, replayed {result.replayed_decision}"
        )
        codes = [r["code"] for r in result.replayed_reasons]
        if result.reasons_compared:
            console.print(f"  reasons   {'same' if result.reasons_match else 'differ'}: {codes}")
        else:
            console.print(
                f"  reasons   none were given with this approval; recomputed for information: "
                f"{codes}"
            )
        for item in result.differences:
            console.print(f"  - {item}")
    if not result.matches:
        raise typer.Exit(EXIT_FAILURE)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="decisions")


@app.command("prove")
def prove(
    ctx: typer.Context,
    decision_id: DecisionId,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the receipt (JSON) to this file.")
    ] = None,
) -> None:
    """Print a receipt that proves a decision into a signed checkpoint, for offline checking:
    decision → its batch's root → the audit log's checkpoint, with the proofs.

    docs/audit-chain.md defines every byte and shows a verifier that needs only Python.

    Example: riskops decisions prove 0b7c2a4e-4a1f-4c8e-9a51-6f0d2f3b9e10 --out receipt.json
    """
    from riskops.decisions.receipts import prove_decision

    state: State = ctx.obj
    receipt = prove_decision(state.context(), decision_id)
    if out is None:
        print_json(receipt)
        return
    out.write_text(json.dumps(receipt, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(
        f"Wrote the receipt of {decision_id} to {out}: batch {receipt['batch']['id']}, audit "
        f"event {receipt['event']['seq']}, checkpoint size {receipt['log']['size']}."
    )
