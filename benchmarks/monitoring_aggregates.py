"""The flusher's added CPU per decision for keeping the monitoring aggregates: the reference
model's features (german credit rows, as JSON-decoded dicts, the way the flusher holds them),
the profile fitted on them, batches of 256 aggregated and inserted into a SQLite store.

Usage: python benchmarks/monitoring_aggregates.py [--decisions N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import func, select

from riskops.config import load_settings
from riskops.context import Context
from riskops.decisions.aggregates import PlanCache, aggregate_batch, plan_from_spec
from riskops.monitoring.runs import VersionInfo, run_monitoring
from riskops.profiles.profile import fit_profile
from riskops.spec import load_spec
from riskops.store import open_store
from riskops.store.tables import DecisionBatchRecord, MonitoringAggregateRecord

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    spec = load_spec(ROOT / "models" / "credit_scoring" / "model.yaml").spec
    frame = pd.read_csv(ROOT / "data" / "german_credit" / "german_credit.csv")
    names = list(spec.feature_names)
    rng = np.random.default_rng(0)
    scores = rng.beta(2, 5, len(frame))
    columns = {
        n: frame[n].to_numpy(dtype=object if frame[n].dtype == object else None) for n in names
    }
    profile = fit_profile(spec.name, 1, spec, columns, scores)
    records = frame[names].to_dict(orient="records")
    start = datetime(2026, 12, 7, tzinfo=UTC)
    decoded = [orjson.loads(orjson.dumps(r)) for r in records]  # as the flusher holds them

    def batch_of(begin: int, stop: int) -> list[tuple[dict[str, object], dict[str, object]]]:
        return [
            (
                {
                    "model_name": spec.name,
                    "version": 1,
                    "digest": "sha256:" + "a" * 64,
                    "environment": "production",
                    "decided_at": start + timedelta(seconds=i),
                    "decision": ("approve", "refer", "decline")[i % 3],
                    "fallback": False,
                    "latency_ms": 0.6,
                    "score": float(scores[i % len(scores)]),
                },
                decoded[i % len(decoded)],
            )
            for i in range(begin, stop)
        ]

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        for label, kept in (("decision layer only", None), ("with feature counts", profile)):
            plan = plan_from_spec(spec, kept)
            plans = PlanCache(lambda s, m, v, d, plan=plan: plan)
            cpu = 0.0
            for begin in range(0, args.decisions, args.batch_size):
                chunk = batch_of(begin, min(begin + args.batch_size, args.decisions))
                with store.transaction() as session:
                    batch = DecisionBatchRecord(
                        merkle_root="0" * 64,
                        count=len(chunk),
                        first_decided_at=start,
                        last_decided_at=start,
                        audit_seq=0,
                        created_at=start,
                    )
                    session.add(batch)
                    session.flush()
                    began = time.process_time()
                    aggregate_batch(session, batch.id, chunk, plans)
                    session.flush()
                    cpu += time.process_time() - began
            per = cpu / args.decisions * 1e6
            if kept is not None:
                with store.reading() as session:
                    size = session.scalar(
                        select(func.avg(func.length(MonitoringAggregateRecord.counts)))
                    )
                print(f"stored counts: {size:,.0f} bytes per aggregate row on average")
            print(
                f"{label:22s} {len(names)} features, batches of {args.batch_size}: "
                f"{per:6.1f} µs CPU per decision ({per / 600:.1%} of 0.6 ms)"
            )
        began = time.perf_counter()
        run_monitoring(
            Context(load_settings(home=Path(tmp) / "ws"), store, registry=None),  # type: ignore[arg-type]
            spec.name,
            window=timedelta(days=366),
            end=start + timedelta(days=366),
            versions=lambda s, m, v: VersionInfo(spec, profile),
        )
        print(
            f"monitor run over the {2 * args.decisions:,} aggregated decisions: "
            f"{time.perf_counter() - began:.2f} s"
        )
        store.dispose()


if __name__ == "__main__":
    main()
