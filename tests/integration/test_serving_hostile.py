"""Hostile requests against a real ``riskops serve`` (uvicorn) process: while clients send, back
to back, the bodies of the penetration-style trial (a megabyte of unknown feature names, to
either decision endpoint, and arrays nested 1,000 and 5,000 deep), the event loop keeps
answering: ``/healthz`` stays under 100 ms, and every hostile request gets a small 422.

The hostile clients run in a process of their own, so that what is measured is the server, not
the test's own threads waiting for its interpreter lock.

Before, one body of 35,000 unknown names cost 2.7 s of CPU on the event loop, with a 4 MB
answer; four in a row stalled all scoring for 11 s, and ``/healthz`` took 3.4 s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from riskops.context import Context
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy
from tests.integration.test_serving_http import Server, serve  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MODEL = "credit-scoring"
ATTACK_S = 6.0  # how long /healthz is measured while the hostile requests go on
MOST_PER_CLIENT = 5_000  # each hostile client also stops after this many requests
HEALTHZ_LIMIT_MS = 100.0


def hostile_bodies() -> dict[str, tuple[str, bytes]]:
    """What each hostile client sends, and where."""
    unknown = {f"duration_in_mont{i:06d}": 1 for i in range(35_000)}
    one = {"subject_id": "s", "features": unknown}
    single = f"/v1/models/{MODEL}/decisions"

    def nested(depth: int) -> bytes:
        return b'{"subject_id": "s", "features": {"purpose": ' + b"[" * depth + b"]" * depth + b"}}"

    return {
        "unknown names": (single, orjson.dumps(one)),
        "unknown names, batch": (single + ":batch", orjson.dumps({"subjects": [one]})),
        "1,000 deep": (single, nested(1_000)),  # orjson reads it; the features check refuses it
        "5,000 deep": (single + ":batch", nested(5_000)),  # past orjson's 1,024 levels
    }


def attack(base: str, key: str, seconds: float) -> None:
    """The hostile clients (run in a child process): one thread per body, each sending it back
    to back for ``seconds`` (at most ``MOST_PER_CLIENT`` times). Prints ``ready`` once they
    are sending, then a JSON object: body → [[status, answer bytes], …]."""
    bodies = hostile_bodies()
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    answers: dict[str, list[tuple[int, int]]] = {name: [] for name in bodies}
    deadline = time.monotonic() + seconds

    def client(name: str) -> None:
        path, body = bodies[name]
        with httpx.Client(base_url=base, timeout=30.0) as http:
            for _ in range(MOST_PER_CLIENT):
                if time.monotonic() > deadline:
                    return
                answer = http.post(path, content=body, headers=headers)
                answers[name].append((answer.status_code, len(answer.content)))

    threads = [threading.Thread(target=client, args=(name,)) for name in bodies]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    for thread in threads:
        thread.join()
    print(json.dumps(answers), flush=True)


def test_healthz_answers_quickly_while_hostile_requests_are_in_flight(
    ctx: Context,
    serve: Callable[..., Server],  # noqa: F811
) -> None:
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    server = serve(max_body_bytes=1_048_576)
    assert len(hostile_bodies()["unknown names"][1]) > 900_000
    attackers = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from tests.integration.test_serving_hostile import attack; "
            "attack(sys.argv[1], sys.argv[2], float(sys.argv[3]))",
            server.base,
            server.score_key,
            str(ATTACK_S + 2.0),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert attackers.stdout is not None
        assert attackers.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # every client has a request in flight
        latencies: list[float] = []
        with httpx.Client(base_url=server.base, timeout=10.0) as client:
            deadline = time.monotonic() + ATTACK_S
            while time.monotonic() < deadline:
                started = time.perf_counter()
                health = client.get("/healthz")
                latencies.append((time.perf_counter() - started) * 1000)
                assert health.status_code == 200
                time.sleep(0.02)
        in_flight = attackers.poll() is None  # still sending when the measurement ended
        out, _ = attackers.communicate(timeout=120)
    finally:
        if attackers.poll() is None:
            attackers.kill()
            attackers.wait(timeout=30)
    assert attackers.returncode == 0, out
    answers: dict[str, list[list[int]]] = json.loads(out.strip().splitlines()[-1])
    summary = (
        f"/healthz over {len(latencies)} requests: median {statistics.median(latencies):.1f} "
        f"ms, max {max(latencies):.1f} ms; hostile requests answered: "
        f"{ {name: len(got) for name, got in answers.items()} }"
    )
    print(summary)
    assert in_flight, f"the hostile clients stopped before the measurement ended. {summary}"
    assert max(latencies) < HEALTHZ_LIMIT_MS, summary
    for name, got in answers.items():
        assert len(got) >= 10, f"{name}: too few hostile requests were in flight. {summary}"
        assert {status for status, _ in got} == {422}, (name, got[:5])
        assert max(size for _, size in got) < 10_000, (name, summary)
    assert "Traceback" not in server.log_text()
