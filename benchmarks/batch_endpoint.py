"""The batch endpoint over real HTTP: ``POST /v1/models/credit-scoring/decisions:batch`` with
1,000 subjects per request, on one uvicorn worker.

What runs, on 127.0.0.1: ``riskops demo`` builds a fresh workspace in a temporary
``RISKOPS_HOME`` (the repository's ``models/credit_scoring/model.yaml``), a key is made, and
``riskops serve`` (one worker) answers batches of 1,000 subjects — every subject new (a fresh
subject id), its features a row of ``data/german_credit/german_credit.csv`` (the 1,000
applicants, in four shuffled orders), each decision with validation, the policy's outcome,
TreeSHAP reason codes for every refer/decline, and the whole batch fsync'd to the durable
decision log before the answer. The load comes from a separate process (``benchmarks/serving.py
--load``): N keep-alive connections, each sending its next batch as soon as the previous answer
is in, at N = 1, 2 and 4; each cell warms up, then measures for ``--seconds``.

The server runs this checkout's code (``PYTHONPATH`` set to its ``src``). ``--compare-src
PATH`` runs the same load against a second server started from another source tree (a
``git worktree`` of an earlier commit, say), one after the other, so that before and after are
measured on the same machine in the same run.

Reported per cell: subjects/s (requests/s × 1,000), p50 and p99 of a request's time, errors,
and the server's CPU per subject. Target (DESIGN.md): ≥ 10,000 subjects/s on one worker.

Usage: python benchmarks/batch_endpoint.py [--seconds S] [--warmup S] [--concurrency 1,2,4]
                                           [--compare-src /path/to/other/src]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # the serving benchmark's server, load and workspace tools
    BIN,
    MODEL,
    REPO,
    SPEC,
    SUBJECT_SLOT,
    Traffic,
    _cli,
    _deployed,
    _free_port,
    _group_cpu_seconds,
    _interrupted,
    _rows,
    _run_load,
    _server,
)

BATCH_PATH = f"/v1/models/{MODEL}/decisions:batch"
SUBJECTS = 1_000
ORDERS = 4  # request bodies: the 1,000 applicants in this many shuffled orders
TARGET = 10_000  # subjects/s on one worker (DESIGN.md)


def _machine() -> str:
    import platform
    from importlib import metadata

    model = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("lightgbm", "uvicorn", "orjson"))
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}; {versions}"


def _bodies(requests: list[dict[str, object]]) -> list[str]:
    """Batches of ``SUBJECTS`` subjects; the load process puts a fresh number in each body's
    ``SUBJECT_SLOT``, so every subject id of every request is new."""
    bodies = []
    for order in range(ORDERS):
        rows = list(range(len(requests)))
        random.Random(order).shuffle(rows)
        subjects = [
            {"subject_id": f"bench-{SUBJECT_SLOT}-{k}", "features": requests[i % len(requests)]}
            for k, i in enumerate(rows[:SUBJECTS])
        ]
        bodies.append(json.dumps({"subjects": subjects}, separators=(",", ":")))
    return bodies


def _check(base: str, token: str, requests: list[dict[str, object]], reference: np.ndarray) -> str:
    """One batch of every applicant, against the booster's own scores: how far apart they are
    and what was decided."""
    import httpx

    body = {
        "subjects": [{"subject_id": f"check-{i}", "features": r} for i, r in enumerate(requests)]
    }
    answer = httpx.post(
        base + BATCH_PATH, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    answer.raise_for_status()
    decisions = answer.json()["decisions"]
    scores = np.asarray([d["score"] for d in decisions], dtype=np.float64)
    adverse = [d for d in decisions if d["decision"] != "approve"]
    explained = sum(bool(d["reasons"]) for d in adverse)
    return (
        f"{len(decisions)} decisions, max |score − booster.predict| = "
        f"{np.max(np.abs(scores - reference)):.2e}; {len(adverse)} refer/decline, "
        f"{explained} of them with reasons"
    )


def bench(args: argparse.Namespace) -> None:
    import lightgbm as lgb

    concurrencies = [int(c) for c in args.concurrency.split(",")]
    load_start = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    work = Path(tempfile.mkdtemp(prefix="riskops-bench-batch-"))
    sources = {"this checkout": REPO / "src"}
    if args.compare_src:
        sources[f"--compare-src {args.compare_src}"] = Path(args.compare_src).resolve()
    try:
        home = work / "home"
        base_env = {
            **os.environ,
            "RISKOPS_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO / "src"),
        }
        base_env.pop("RISKOPS_ACTOR", None)
        print(f"Batch endpoint benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}")
        _cli(base_env, "demo", "--spec", str(SPEC))
        token = json.loads(
            _cli(
                base_env,
                *("keys", "create", "bench", "--client", "bench", "--scope", "score"),
                *("--as", "oscar", "--json"),
            )
        )["key"]
        deployed = _deployed(home)
        _names, requests, matrix = _rows()
        booster = lgb.Booster(model_file=str(deployed.model_dir / "model.lgb"))
        reference = np.asarray(booster.predict(matrix, num_threads=1), dtype=np.float64)
        traffic = Traffic(BATCH_PATH, {"Authorization": f"Bearer {token}"}, _bodies(requests))
        traffic_file = work / "traffic.json"
        traffic.write(traffic_file)
        print(
            f"  serving {MODEL}@{deployed.version}; {SUBJECTS:,} subjects per request, "
            f"{len(traffic.bodies[0]) / 1024:.0f} KiB per body"
        )
        logs = work / "logs"
        logs.mkdir()
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for label, src in sources.items():
            env = {**base_env, "PYTHONPATH": str(src)}
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            command = [
                sys.executable,
                *("-m", "riskops", "serve", "--env", "production", "--host", "127.0.0.1"),
                *("--port", str(port), "--max-batch", str(SUBJECTS)),
            ]
            print(f"{label} ({src}):", flush=True)
            with _server(f"server-{len(results)}", command, env, url + "/readyz", logs) as pgid:
                print(f"  check: {_check(url, token, requests, reference)}")
                for concurrency in concurrencies:
                    cpu = _group_cpu_seconds(pgid)
                    cell = _run_load(url, traffic_file, concurrency, args.seconds, args.warmup)
                    answered = max(cell["answered"], 1)
                    cell["server_cpu_us"] = (
                        (_group_cpu_seconds(pgid) - cpu) / (answered * SUBJECTS) * 1e6
                    )
                    cell["subjects_per_s"] = cell["throughput"] * SUBJECTS
                    results[(label, concurrency)] = cell
                    print(
                        f"  concurrency {concurrency}: {cell['subjects_per_s']:>8,.0f} subjects/s "
                        f"({cell['completed']} requests), p50 {cell['p50_ms']:.0f} ms, p99 "
                        f"{cell['p99_ms']:.0f} ms, {cell['errors']} errors; server CPU "
                        f"{cell['server_cpu_us']:.0f} µs per subject",
                        flush=True,
                    )
                    for sample in cell["error_samples"]:
                        print(f"    error: {sample}")
        print()
        print(
            f"Batch endpoint, {SUBJECTS:,} subjects per request, one worker; closed loop from a "
            f"separate load process, {args.warmup:g} s warm-up + {args.seconds:g} s per cell"
        )
        header = (
            f"{'server code':<44} {'conc.':>5} {'subjects/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'errors':>7} {'CPU µs/subject':>15} {'≥ 10k/s':>8}"
        )
        print(header)
        print("-" * len(header))
        for (label, c), cell in results.items():
            met = "met" if cell["subjects_per_s"] >= TARGET else "MISS"
            print(
                f"{label[:44]:<44} {c:>5} {cell['subjects_per_s']:>11,.0f} "
                f"{cell['p50_ms']:>8.0f} {cell['p99_ms']:>8.0f} {cell['errors']:>7} "
                f"{cell['server_cpu_us']:>15.0f} {met:>8}"
            )
        print(
            f"Load average (1 min) at the start {load_start:.2f}, at the end "
            f"{os.getloadavg()[0]:.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per cell")
    parser.add_argument("--concurrency", default="1,2,4", help="connections, comma-separated")
    parser.add_argument(
        "--compare-src", default=None, help="also serve from this source tree (before/after)"
    )
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
