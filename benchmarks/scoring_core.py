"""The scoring core in-process: what a decision costs on top of the model's own predict.

Trains the German credit LightGBM model (models/credit_scoring, its trainer and data), then times
one call after another, each for a bounded time:

- raw ``booster.predict`` on a (1, n) float64 row: the compute floor; and with
  ``num_threads=1``, as the scorer calls it;
- ``booster.predict(pred_contrib=True)`` on that row: what reason codes cost;
- the parts a decision adds: encoding the request, the policy, the reasons, the record;
- ``Scorer.decide`` on an approved subject (no reasons) and on a declined one (with reasons);
- ``Scorer.decide_batch`` of 1,000 subjects, beside raw ``booster.predict`` on the same rows.

Usage: python benchmarks/scoring_core.py [--seconds S] [--batch N]
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any

import numpy as np

from riskops.datasets.prepared import prepare
from riskops.datasets.snapshot import load_snapshot
from riskops.scoring.scorer import Decision, Scorer
from riskops.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "credit_scoring" / "model.yaml"


def _trainer(name: str) -> Callable[..., Any]:
    path = SPEC.parent / "trainer.py"
    module_spec = importlib.util.spec_from_file_location("credit_scoring_trainer", path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    fn: Callable[..., Any] = getattr(module, name)
    return fn


def _time(call: Callable[[], object], seconds: float, max_calls: int = 200_000) -> np.ndarray:
    """Nanoseconds of each call, for ``seconds`` or ``max_calls`` (after a short warm-up)."""
    for _ in range(50):
        call()
    samples = []
    deadline = perf_counter() + seconds
    while len(samples) < max_calls and perf_counter() < deadline:
        start = perf_counter_ns()
        call()
        samples.append(perf_counter_ns() - start)
    return np.asarray(samples, dtype=np.float64)


def _requests(frame: Any, spec: Any) -> list[dict[str, object]]:
    """The data's rows as JSON bodies would carry them: numbers as numbers, categories as text."""
    rows = []
    for record in frame.to_dict(orient="records"):
        rows.append(
            {
                f.name: int(record[f.name]) if f.type == "numeric" else str(record[f.name])
                for f in spec.features
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--batch", type=int, default=1_000, help="subjects per batch call")
    args = parser.parse_args()

    loaded = load_spec(SPEC)
    spec = loaded.spec
    snapshot = load_snapshot(loaded.resolve(spec.data.source))
    prepared = prepare(snapshot, spec)
    booster = _trainer("fit_lightgbm")(
        prepared.train_features, prepared.y_train, spec.trainer.params
    )
    scorer = Scorer(spec, booster, version=1, digest="sha256:benchmark")

    requests = _requests(snapshot.frame, spec)
    scores = booster.predict(prepared.matrix)
    approved = requests[int(np.argmin(scores))]
    declined = requests[int(np.argmax(scores))]
    assert scorer.decide(approved).decision == "approve"
    assert scorer.decide(declined).decision == "decline"
    row = scorer.encoder.encode(declined)
    phi = booster.predict(row, pred_contrib=True)[0]
    batch = [requests[i % len(requests)] for i in range(args.batch)]
    batch_matrix = scorer.encoder.encode_batch(batch)
    score = float(scores.max())

    def record() -> Decision:
        return Decision(spec.name, 1, "sha256:benchmark", score, "decline", (), False, 0.1)

    n = args.batch
    one = {"num_threads": 1}  # what Scorer passes (see its docstring)
    cases: list[tuple[str, Callable[[], object], int]] = [
        ("raw booster.predict, 1 row (floor)", lambda: booster.predict(row), 1),
        ("booster.predict, 1 row, num_threads=1", lambda: booster.predict(row, **one), 1),
        (
            "booster.predict(pred_contrib), 1 row, 1 thread",
            lambda: booster.predict(row, pred_contrib=True, **one),
            1,
        ),
        ("  part: encode the request (FeatureEncoder)", lambda: scorer.encoder.encode(declined), 1),
        ("  part: policy.decide(score)", lambda: scorer.policy.decide(score), 1),
        ("  part: top-4 reasons from contributions", lambda: scorer.reasons.top(phi, declined), 1),
        ("  part: the Decision record", record, 1),
        ("Scorer.decide, approve (no reasons)", lambda: scorer.decide(approved), 1),
        ("Scorer.decide, decline (with reasons)", lambda: scorer.decide(declined), 1),
        (
            f"raw booster.predict, {n:,} rows, 1 thread",
            lambda: booster.predict(batch_matrix, **one),
            n,
        ),
        (f"Scorer.decide_batch, {n:,} subjects", lambda: scorer.decide_batch(batch), n),
    ]
    results = [(what, _time(call, args.seconds), per) for what, call, per in cases]
    floor = float(np.percentile(results[0][1], 50))
    adverse = sum(d.decision != "approve" for d in scorer.decide_batch(batch))

    print(
        f"German credit LightGBM ({booster.num_trees()} trees, {len(spec.features)} features); "
        f"{args.seconds:g} s per line. Times are per decision (a batch call divided by its "
        f"size; {adverse} of the {n:,} batch subjects are refer/decline and get reasons); "
        "decisions/s from the mean."
    )
    header = (
        f"{'what':<48} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8} {'decisions/s':>12} "
        f"{'p50 × floor':>11}"
    )
    print(header)
    print("-" * len(header))
    for what, samples, per in results:
        p50, p99, mean = (
            float(np.percentile(samples, 50)) / per,
            float(np.percentile(samples, 99)) / per,
            float(samples.mean()) / per,
        )
        print(
            f"{what:<48} {p50 / 1e3:>8.1f} {p99 / 1e3:>8.1f} {mean / 1e3:>8.1f} "
            f"{1e9 / mean:>12,.0f} {p50 / floor:>11.2f}"
        )


if __name__ == "__main__":
    main()
