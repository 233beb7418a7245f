"""One decision of each model kind over HTTP, from a real ``riskops serve`` on the demo's
production environment.

Each model gets one request a client of its kind would send: a credit application, a card
payment described by its anonymised pattern (the fraud model), and a card transaction whose
history the server looks up in the online store (the transaction-risk model). A model with
history features first has its training data backfilled into the workspace's online store, as
an operator does before the first deployment (``riskops history backfill``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from riskops.context import Context
from riskops.demo.drift import _Server
from riskops.history.offline import backfill
from riskops.history.store import open_online_store
from riskops.serving.auth import create_key
from riskops.spec import LoadedSpec, load_spec

Progress = Callable[[str], None]


def serve_one_of_each(
    ctx: Context, spec_paths: Sequence[Path], progress: Progress
) -> list[dict[str, Any]]:
    """Start ``riskops serve --env production`` and ask it for one decision per model; the
    answers, each with the model's kind, outcome, score and principal reasons."""
    specs = [load_spec(path) for path in spec_paths]
    for loaded in specs:
        if loaded.spec.history is not None:
            store = open_online_store(ctx.settings.history_url)
            try:
                rows, new = backfill(store, loaded)
            finally:
                store.close()
            progress(f"Backfilled {new:,} of {rows:,} transactions into the online store")
    key = create_key(ctx, "demo-client", client="demo", scopes=["score"], actor="oscar").token
    progress("Starting riskops serve on production for one decision of each kind")
    answers = []
    with _Server(ctx, key) as server:
        for loaded in specs:
            spec = loaded.spec
            subject, features = request_for(loaded)
            answer = server.post(
                f"/v1/models/{spec.name}/decisions",
                {"subject_id": subject, "features": features},
            )
            answers.append(
                {
                    "model": spec.name,
                    "kind": spec.kind,
                    "version": answer["version"],
                    "subject_id": subject,
                    "decision": answer["decision"],
                    "score": answer["score"],
                    "reasons": [r["text"] for r in answer["reasons"]],
                }
            )
            progress(
                f"{spec.name}@{answer['version']} ({spec.kind}): {answer['decision']}, score "
                f"{answer['score']:.4f}"
                + (f"; first reason: {answer['reasons'][0]['text']}" if answer["reasons"] else "")
            )
    return answers


def request_for(loaded: LoadedSpec) -> tuple[str, dict[str, object]]:
    """A subject id and the request features the demo sends ``loaded``'s model."""
    spec = loaded.spec
    if spec.history is not None:
        return _transaction(loaded)
    # The first event of its data (an applicant whose loan went bad, a fraudulent payment), as
    # the client would send it: the spec's features only.
    subject = "applicant-0001" if spec.kind == "credit" else "payment-0001"
    label = spec.data.label
    numeric = {f.name for f in spec.features if f.type == "numeric"}
    with loaded.resolve(spec.data.source).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if str(row[label.column]) == str(label.positive):
                return subject, {
                    f.name: float(row[f.name]) if f.name in numeric else row[f.name]
                    for f in spec.features
                }
    raise LookupError(f"{spec.data.source} holds no row with {label.column} = {label.positive}")


def _transaction(loaded: LoadedSpec) -> tuple[str, dict[str, object]]:
    """A new transaction after the data's last, by the card of its last transaction, at five
    times that card's last amount (the pattern of a compromised card)."""
    spec = loaded.spec
    history = spec.history
    assert history is not None
    import pandas as pd

    frame = pd.read_csv(loaded.resolve(spec.data.source))
    last = frame.iloc[-1]
    customer, terminal = history.entities["customer"], history.entities["terminal"]
    when = pd.Timestamp(last[history.time_column]) + pd.Timedelta(hours=1)
    features: dict[str, object] = {
        history.event_id: str(int(frame[history.event_id].max()) + 1),
        history.time_column: when.strftime("%Y-%m-%d %H:%M:%S"),
        history.amount_column: round(float(last[history.amount_column]) * 5, 2),
        customer: str(last[customer]),
        terminal: str(last[terminal]),
    }
    return f"card-{last[customer]}", features
