"""What a hostile request body costs the scoring server, stage by stage, on this machine: orjson's
parse (one C call that holds the interpreter lock, timed with the garbage collector paused as
the server pauses it, and without), the envelope and feature checks, and the refusal (problem
body and its JSON). Each body is at most 1 MiB, the default --max-body-bytes.

The shapes: the penetration-style trial's body (about 35,000 unknown names that look like a
feature, to the single endpoint and in a batch), arrays nested 1,000 deep (orjson reads them,
the feature check refuses them), and the shapes that cost orjson most per megabyte (the most
small objects: empty arrays, short names).

Usage: python benchmarks/hostile_bodies.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from riskops.errors import RiskopsError
from riskops.scoring.features import FeatureEncoder
from riskops.serving.envelope import collector_paused, parse_batch_request, parse_decision_request
from riskops.serving.http_errors import error_answer
from riskops.spec import load_spec

SPEC = Path(__file__).resolve().parents[1] / "models" / "credit_scoring" / "model.yaml"
MIB = 1_048_576


def bodies() -> dict[str, tuple[bool, bytes]]:
    """name → (is a batch, body)."""
    unknown = {
        "subject_id": "s",
        "features": {f"duration_in_mont{i:06d}": 1 for i in range(35_000)},
    }
    short = {"subject_id": "s", "features": {f"{i:x}": 1 for i in range(100_000)}}
    deep = b'{"subject_id": "s", "features": {"purpose": ' + b"[" * 1_000 + b"]" * 1_000 + b"}}"
    empties = b'{"subject_id": "s", "features": {}, "x": [' + b"[]," * 340_000 + b"[]]}"
    shapes = {
        "trial: 35,000 unknown names": (False, orjson.dumps(unknown)),
        "trial, in a batch": (True, orjson.dumps({"subjects": [unknown]})),
        "100,000 short names": (False, orjson.dumps(short)),
        "1,000-deep arrays": (False, deep),
        "340,000 empty arrays": (False, empties),
    }
    for name, (_, body) in shapes.items():
        assert len(body) <= MIB, (name, len(body))
    return shapes


def timed(call: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``call``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    encoder = FeatureEncoder(load_spec(SPEC).spec)
    gc.freeze()  # as the server does once its models are loaded

    def handle(batch: bool, body: bytes) -> tuple[int, bytes]:
        """What the server does with the body after reading it: parse, check, refuse."""
        try:
            if batch:
                parsed = parse_batch_request(body, max_batch=1_000)
                encoder.encode_batch([s.features for s in parsed.subjects])
            else:
                encoder.encode(parse_decision_request(body).features)
        except RiskopsError as exc:
            status, problem, _ = error_answer(exc)
            return status, orjson.dumps(problem)
        raise AssertionError("a hostile body was accepted")

    def parse_paused(body: bytes) -> None:
        with collector_paused():
            orjson.loads(body)

    print(
        f"{'body':30} {'bytes':>9} {'parse':>7} {'parse,gc':>9} {'whole':>7} {'status':>6} {'answer':>7}"
    )
    for name, (batch, body) in bodies().items():
        status, answer = handle(batch, body)
        parse = timed(lambda body=body: parse_paused(body), args.repeat)  # type: ignore[misc]
        parse_gc = timed(lambda body=body: orjson.loads(body), args.repeat)  # type: ignore[misc]
        whole = timed(lambda batch=batch, body=body: handle(batch, body), args.repeat)  # type: ignore[misc]
        print(
            f"{name:30} {len(body):9,} {parse:6.1f}ms {parse_gc:7.1f}ms {whole:6.1f}ms "
            f"{status:6} {len(answer):6,}B"
        )
    print(
        "\nparse: orjson.loads with the collector paused, as the server parses (one C call "
        "holding the interpreter lock); parse,gc: the same with the collector running; whole: "
        "parse, envelope and feature checks, refusal and its JSON, freeing the parsed body; "
        "answer: the problem+json's size. Medians."
    )


if __name__ == "__main__":
    main()
