"""The OpenAPI document is a contract the server keeps: schemathesis reads ``/openapi.json`` from
a real ``riskops serve`` (uvicorn) process with a deployed model, and sends every operation at
least 200 generated requests (after its examples and its coverage cases: boundary values,
missing and wrong-typed fields, methods the path does not take), with a valid API key. Every
answer must be no 5xx, and conform to the document: a documented status, the documented
content type (``application/problem+json`` for every error), the documented headers (``Allow``
on a 405, ``WWW-Authenticate`` on a 401) and the documented schema. A request the document
calls valid must be accepted, and one it calls invalid refused.

An operation without inputs (``/healthz``, ``/readyz``, ``/metrics``) has one distinct request:
schemathesis sends it, and the methods the path does not take, and no more. Every operation
with inputs gets at least 200 requests (about 220 to 440).

schemathesis runs as its command line (``schemathesis run``), its stable interface: its pytest
plugin (4.32) does not run under pytest 9.2. The generation is deterministic (``--seed``,
``--generation-deterministic``): every run sends the same requests, so a failure is
reproducible and CI is not flaky; change ``SEED`` to explore further.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from riskops.context import Context
from riskops.serving.auth import create_key
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy
from tests.integration.test_serving_http import Server, serve  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 200  # generated requests per operation in the fuzzing phase, at least
SEED = 20261207
RUN_TIMEOUT_S = 600
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "positive_data_acceptance",
    "negative_data_rejection",
)
# Every operation of the document: the templated decision paths, each deployed model's own,
# reading a decision, and the operational endpoints.
OPERATIONS = {
    "POST /v1/models/{name}/decisions",
    "POST /v1/models/{name}/decisions:batch",
    "POST /v1/models/credit-scoring/decisions",
    "POST /v1/models/credit-scoring/decisions:batch",
    "GET /v1/decisions/{decision_id}",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
}
WITHOUT_INPUTS = {"GET /healthz", "GET /readyz", "GET /metrics"}


def test_every_operation_keeps_the_documented_contract(
    ctx: Context,
    serve: Callable[..., Server],  # noqa: F811
    tmp_path: Path,
) -> None:
    if not SCHEMATHESIS.is_file():
        pytest.skip(f"No schemathesis at {SCHEMATHESIS}; pip install -e '.[dev]'")
    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    # Scope admin: every operation is reached, none stopped at a 403.
    key = create_key(ctx, "contract", client="acme", scopes=["admin"], actor="oscar").token
    server = serve()
    report = tmp_path / "schemathesis.ndjson"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{server.base}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "--suppress-health-check",
            "all",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--header",
            f"Authorization: Bearer {key}",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis found contract violations:\n{output[-20_000:]}"
    sent = requests_per_operation(report)
    assert set(sent) == OPERATIONS, output[-5_000:]
    few = {op: n for op, n in sent.items() if n < (1 if op in WITHOUT_INPUTS else EXAMPLES)}
    assert not few, f"operations sent fewer requests than asked: {few}\n{output[-5_000:]}"
    assert "Traceback" not in server.log_text()


def requests_per_operation(report: Path) -> dict[str, int]:
    """How many requests schemathesis sent per operation (``"POST /path"``), from its NDJSON
    event report."""
    sent: dict[str, int] = {}
    with report.open(encoding="utf-8") as lines:
        for line in lines:
            event: dict[str, Any] = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None:
                continue
            recorder = finished["recorder"]
            label = recorder["label"]
            sent[label] = sent.get(label, 0) + len(recorder.get("interactions", {}))
    return sent
