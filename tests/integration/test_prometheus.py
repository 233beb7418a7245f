"""A real Prometheus (the Debian package's binary) scrapes a real ``riskops serve`` every second
on its metrics port and evaluates deploy/prometheus's rules against what it scraped: the
recording rules give the request rate and error share of the decisions sent, and an alert
rule on a recording rule fires."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from riskops.context import Context
from riskops.serving.auth import create_key
from riskops.training.pipeline import train
from tests.conftest import SPEC, approve_and_deploy, unavailable
from tests.unit.conftest import as_requests
from tests.unit.deploy.promql import RULE_FILES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RISKOPS = str(Path(sys.executable).parent / "riskops")
MODEL = "credit-scoring"
READY_TIMEOUT_S = 60.0
RULE_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def _wait(check: Callable[[], Any], what: str, timeout: float, log: Path) -> Any:
    """``check()``'s first truthy answer, polled every 0.2 s; fails with ``log``'s tail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
            if found:
                return found
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
            pytest.fail(f"{what} not within {timeout} s:\n{tail}")
        time.sleep(0.2)


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        unavailable("prometheus is not installed (apt-get install prometheus)")
    return found


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, stopped by their PID afterwards (last started first)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in reversed(started):
        _stop(process)


def test_prometheus_scrapes_riskops_serve_and_evaluates_the_rules(
    ctx: Context,
    tmp_path: Path,
    prometheus_binary: str,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    import pandas as pd

    from riskops.spec import load_spec
    from tests.conftest import DATA

    approve_and_deploy(ctx, train(ctx, SPEC, actor="alice").ref)
    key = create_key(ctx, "portal", client="acme", scopes=["score"], actor="oscar").token
    port, metrics_port, prom_port = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "RISKOPS_HOME": str(ctx.settings.home), "PYTHONUNBUFFERED": "1"}
    serve_log = tmp_path / "serve.log"
    with serve_log.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [
                    RISKOPS,
                    "serve",
                    "--env",
                    "production",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--metrics-port",
                    str(metrics_port),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )

    # Prometheus: deploy/prometheus's rules, and one alert on a recording rule that fires as
    # soon as decisions are seen (the shipped alerts wait minutes before firing).
    (tmp_path / "test-alerts.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "riskops-test",
                        "rules": [
                            {
                                "alert": "RiskopsDecisionsSeen",
                                "expr": "sum by (job, model) (riskops:decisions:rate5m) > 0",
                                "labels": {"severity": "warning"},
                            }
                        ],
                    }
                ]
            }
        )
    )
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [*map(str, RULE_FILES), str(tmp_path / "test-alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "riskops",
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom_log = tmp_path / "prometheus.log"
    with prom_log.open("wb") as out:
        processes.append(
            subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )

    riskops = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    prom = httpx.Client(base_url=f"http://127.0.0.1:{prom_port}", timeout=10.0)
    with riskops, prom:
        _wait(
            lambda: riskops.get("/readyz").status_code == 200,
            "riskops ready",
            READY_TIMEOUT_S,
            serve_log,
        )
        _wait(lambda: prom.get("/-/ready").status_code == 200, "prometheus ready", 20, prom_log)

        def query(expr: str) -> list[dict[str, Any]]:
            answer = prom.get("/api/v1/query", params={"query": expr}).json()
            assert answer["status"] == "success", answer
            return list(answer["data"]["result"])

        # Scraped once before any decision, so that rate() sees the counters rise from 0.
        _wait(lambda: query('up{job="riskops"} == 1'), "first scrape", 10, prom_log)
        spec = load_spec(SPEC).spec
        requests = as_requests(pd.read_csv(DATA).head(6), spec)
        headers = {"Authorization": f"Bearer {key}"}

        def decide(i: int) -> None:
            answered = riskops.post(
                f"/v1/models/{MODEL}/decisions",
                json={"subject_id": f"s{i}", "features": requests[i]},
                headers=headers,
            )
            assert answered.status_code == 200, answered.text

        # A labelled counter appears at its first increment: one decision, scraped, before the
        # rest, so that rate() sees the counter rise.
        decide(0)
        _wait(lambda: query('riskops_requests_total{code="200"} == 1'), "first count", 10, prom_log)
        for i in range(1, len(requests)):
            decide(i)
        refused = riskops.post(
            f"/v1/models/{MODEL}/decisions",
            json={"subject_id": "bad", "features": {}},
            headers=headers,
        )
        assert refused.status_code == 422

        # The raw series arrived: 6 answered 200 and 1 refused 422.
        counted = _wait(
            lambda: (
                {
                    r["metric"]["code"]: float(r["value"][1])
                    for r in query('riskops_requests_total{job="riskops",endpoint="decision"}')
                }
                == {"200": 6.0, "422": 1.0}
            ),
            "the request counts in Prometheus",
            RULE_TIMEOUT_S,
            prom_log,
        )
        assert counted
        # Recording rules evaluated on them: a request rate, and no 5xx among them.
        rate = _wait(
            lambda: query('riskops:requests:rate5m{job="riskops"} > 0'),
            "riskops:requests:rate5m",
            RULE_TIMEOUT_S,
            prom_log,
        )
        assert [r["metric"] for r in rate] == [
            {"__name__": "riskops:requests:rate5m", "job": "riskops"}
        ]
        errors = query('riskops:request_errors:ratio_rate5m{job="riskops"}')
        assert [float(r["value"][1]) for r in errors] == [0.0]
        ready = query('riskops_ready{job="riskops"}')
        assert [float(r["value"][1]) for r in ready] == [1.0]

        # An alert rule on a recording rule fired on the scraped decisions.
        def firing() -> list[dict[str, Any]]:
            alerts = prom.get("/api/v1/alerts").json()["data"]["alerts"]
            return [
                a
                for a in alerts
                if a["labels"]["alertname"] == "RiskopsDecisionsSeen" and a["state"] == "firing"
            ]

        fired = _wait(firing, "RiskopsDecisionsSeen firing", RULE_TIMEOUT_S, prom_log)
        assert [a["labels"]["model"] for a in fired] == [MODEL]

        # Every shipped rule evaluates against the real series without an error, and none of
        # the shipped alerts fires on a healthy server.
        groups = prom.get("/api/v1/rules").json()["data"]["groups"]
        shipped = [r for g in groups if g["name"] != "riskops-test" for r in g["rules"]]
        assert len(shipped) == sum(
            len(g["rules"]) for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"]
        )
        assert [r["name"] for r in shipped if r["health"] != "ok"] == []
        assert [r["name"] for r in shipped if r.get("state") == "firing"] == []
