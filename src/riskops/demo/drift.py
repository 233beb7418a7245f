"""The drift walk of the demo: a real ``riskops serve`` answers traffic, monitoring watches it,
drift arrives, an alert fires with its runbook, and the spec's rule rolls the model back.

1. start ``riskops serve`` on the workspace (production, its own port) with an API key;
2. replay applicants drawn from the reference population (the spec's training data) and run
   :func:`riskops.monitoring.runs.run_monitoring`: no alert;
3. replay applicants with injected drift — overdrawn checking accounts, credit amounts three
   times larger and loans two years longer, which moves the score — and run monitoring after each wave, until
   ``prediction-drift`` fires critical; its runbook is named, and the rule
   ``on_critical_prediction_drift: rollback`` rolls production back through governance as
   ``riskops-monitor`` (audited);
4. show the server's monitoring gauges (``/metrics``: the alerts open, set by its refresher
   from the run), wait until it answers with the version it was rolled back to, and stop it.

The demo's monitoring rule is an override of the stored spec's (:data:`DEMO_MONITORING`: a
small ``min_sample`` and ``persistence`` so it fires in seconds, and the rollback action); the
model's own spec is unchanged. Monitoring windows are whole hours, so each run's window holds
the reference wave and every drifted wave so far: the drift shows as its share grows.

Example::

    summary = drift_walk(ctx, "credit-scoring", spec_path, progress=print)
    summary.rolled_back_to   # the version serving production after the rule acted
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess  # nosec B404: starts riskops' own server with this interpreter
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from riskops.context import Context
from riskops.datasets.snapshot import load_snapshot
from riskops.errors import ConflictError, RiskopsError
from riskops.governance.deployments import serving_at
from riskops.monitoring.runs import (
    MONITOR_ACTOR,
    MonitoringRun,
    VersionInfo,
    VersionSource,
    run_monitoring,
    stored_versions,
)
from riskops.monitoring.windows import window_totals
from riskops.serving.auth import create_key
from riskops.spec import ModelSpec, load_spec

Progress = Callable[[str], None]

DEMO_MONITORING: dict[str, Any] = {
    "min_sample": 100,
    "persistence": 2,
    "on_critical_prediction_drift": "rollback",
}
"""The demo's override of the stored spec's ``monitoring`` section."""
REFERENCE_SUBJECTS = 400
WAVE_SUBJECTS = 400
MAX_WAVES = 8
BATCH = 100
READY_TIMEOUT_S = 60.0
FLUSH_TIMEOUT_S = 30.0
WINDOW = timedelta(hours=1)


def drift(request: Mapping[str, object]) -> dict[str, object]:
    """An applicant of the drifted population, as in a downturn: an overdrawn checking
    account, three times the credit amount, two years longer."""
    shifted = dict(request)
    shifted["status_of_existing_checking_account"] = "... < 0 DM"
    shifted["credit_amount"] = int(3 * int(str(request["credit_amount"])))
    shifted["duration_in_month"] = int(str(request["duration_in_month"])) + 24
    return shifted


@dataclass
class DriftSummary:
    """What the drift walk did: each step's line, each monitoring run, and the rollback."""

    lines: list[str] = field(default_factory=list)
    runs: list[MonitoringRun] = field(default_factory=list)
    reference_alerts: int = 0
    waves: int = 0
    rolled_back_to: int | None = None
    served_after: int | None = None
    runbooks: list[str] = field(default_factory=list)
    gauges: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "runs": [r.run_id for r in self.runs],
            "reference_alerts": self.reference_alerts,
            "waves": self.waves,
            "rolled_back_to": self.rolled_back_to,
            "served_after": self.served_after,
            "runbooks": self.runbooks,
            "gauges": self.gauges,
        }


def demo_versions(ctx: Context, overrides: Mapping[str, Any] = DEMO_MONITORING) -> VersionSource:
    """The stored versions (spec and profile), their ``monitoring`` section overridden."""
    stored = stored_versions(ctx)

    def versions(session: Session, model: str, version: int) -> VersionInfo:
        info = stored(session, model, version)
        if info.spec is None:
            return info
        monitoring = info.spec.monitoring.model_copy(update=dict(overrides))
        return VersionInfo(info.spec.model_copy(update={"monitoring": monitoring}), info.profile)

    return versions


def reference_requests(spec_path: Path) -> list[dict[str, object]]:
    """The spec's data as request features: numbers as JSON numbers, categories as text."""
    loaded = load_spec(spec_path)
    spec: ModelSpec = loaded.spec
    frame = load_snapshot(loaded.resolve(spec.data.source)).frame
    return [
        {
            f.name: (int(row[f.name]) if float(row[f.name]).is_integer() else float(row[f.name]))
            if f.type == "numeric"
            else str(row[f.name])
            for f in spec.features
        }
        for row in frame.to_dict(orient="records")
    ]


def drift_walk(
    ctx: Context,
    model: str,
    spec_path: Path,
    *,
    progress: Progress,
    seed: int = 7,
) -> DriftSummary:
    """Walk the drift demo on ``model``, which must serve production with an earlier version
    to roll back to (see the module docstring)."""
    with ctx.store.reading() as session:
        champion = serving_at(session, model, "production")
    if champion is None or champion.previous_version is None:
        raise ConflictError(
            f"The drift walk needs {model} serving production with an earlier version to roll "
            "back to.",
            hint="Run it from the demo: riskops demo --drift --reset",
        )
    if MONITOR_ACTOR not in ctx.settings.people:
        raise ConflictError(
            f"The drift walk's rollback is done by {MONITOR_ACTOR!r}, who is not in [people].",
            hint=f'Add {MONITOR_ACTOR} = ["operator"] to [people] in riskops.toml.',
        )
    summary = DriftSummary()

    def say(line: str) -> None:
        summary.lines.append(line)
        progress(line)

    requests = reference_requests(spec_path)
    rng = np.random.default_rng(seed)
    versions = demo_versions(ctx)
    key = create_key(ctx, "drift-demo", client="demo", scopes=["score"], actor="oscar").token
    say(f"Starting riskops serve on production ({model}@{champion.version} serving)")
    with _Server(ctx, key) as server:
        sent: dict[int, int] = {}
        picks = rng.integers(0, len(requests), REFERENCE_SUBJECTS)
        wave = [requests[i] for i in picks]
        _send(server, model, wave, "reference", sent)
        _wait_flushed(ctx, model, sent)
        run = run_monitoring(ctx, model, window=WINDOW, versions=versions)
        summary.runs.append(run)
        summary.reference_alerts = len(run.fired)
        say(
            f"{REFERENCE_SUBJECTS} applicants from the reference population → monitoring run "
            f"{run.run_id}: {_score_line(run)}; {len(run.fired)} alert(s)"
        )
        for number in range(1, MAX_WAVES + 1):
            picks = rng.integers(0, len(requests), WAVE_SUBJECTS)
            wave = [drift(requests[i]) for i in picks]
            _send(server, model, wave, f"drift-{number}", sent)
            _wait_flushed(ctx, model, sent)
            run = run_monitoring(ctx, model, window=WINDOW, versions=versions)
            summary.runs.append(run)
            summary.waves = number
            say(
                f"wave {number}: {WAVE_SUBJECTS} applicants with overdrawn accounts, 3× credit amounts and "
                f"+24 months → run {run.run_id}: {_score_line(run)}"
            )
            for notice in run.fired:
                summary.runbooks.append(notice.annotations["runbook_url"])
                say(
                    f"  FIRING {notice.alert} ({notice.labels['severity']}) on "
                    f"{notice.labels['target']}: runbook {notice.annotations['runbook_url']}"
                )
            for action in run.actions:
                say(f"  action: {action}")
            if any(a.startswith("rolled back") for a in run.actions):
                break
        summary.gauges = _wait_gauges(server, "prediction-drift")
        for line in summary.gauges:
            say(f"  /metrics: {line}")
        with ctx.store.reading() as session:
            now = serving_at(session, model, "production")
        summary.rolled_back_to = None if now is None else now.version
        if summary.rolled_back_to != champion.version:
            summary.served_after = _wait_served(server, model, summary.rolled_back_to)
            say(f"riskops serve now answers with {model}@{summary.served_after}")
        else:
            say("no rollback: the drift did not fire a critical prediction-drift alert")
    return summary


def _score_line(run: MonitoringRun) -> str:
    parts = []
    for version in run.results["versions"]:
        score = version.get("score")
        psi = "n/a" if score is None or score["psi"] is None else f"{score['psi']:.3f}"
        parts.append(f"v{version['version']} n={version['n']} score PSI {psi}")
    return ", ".join(parts) or "no decisions"


class _Server:
    """``riskops serve`` in a child process on a free port, stopped by its PID on exit."""

    def __init__(self, ctx: Context, key: str) -> None:
        self.ctx = ctx
        self.key = key
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="riskops-drift-serve-", suffix=".log")[1])
        self.base = ""

    def __enter__(self) -> _Server:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "RISKOPS_HOME": str(self.ctx.settings.home), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "riskops", "serve", "--env", "production"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--refresh-seconds", "0.5"]
        command += ["--flush-interval", "0.2", "--max-batch", str(BATCH)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # nosec B603: our own interpreter and arguments
                command, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RiskopsError(
                    f"riskops serve exited with {self.process.returncode}: {self._tail()}"
                )
            try:
                if self.get("/readyz")[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._stop()
                raise RiskopsError(f"riskops serve was not ready in {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def __exit__(self, *_: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.unlink(missing_ok=True)

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def get(self, path: str) -> tuple[int, Any]:
        # The URL is always http://127.0.0.1:<port>, our own child server.
        with urllib.request.urlopen(self.base + path, timeout=10) as answer:  # noqa: S310
            return int(answer.status), json.loads(answer.read())

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=10) as answer:  # noqa: S310
            return str(answer.read().decode())

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1, our own server)
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise RiskopsError(
                f"riskops serve refused the demo's batch: {exc.code} {exc.read()[:500]!r}"
            ) from exc


def _send(
    server: _Server,
    model: str,
    wave: list[dict[str, object]],
    name: str,
    sent: dict[int, int],
) -> None:
    for begin in range(0, len(wave), BATCH):
        subjects = [
            {"subject_id": f"{name}-{begin + i}", "features": features}
            for i, features in enumerate(wave[begin : begin + BATCH])
        ]
        answer = server.post(f"/v1/models/{model}/decisions:batch", {"subjects": subjects})
        for decision in answer["decisions"]:
            version = int(decision["version"])
            sent[version] = sent.get(version, 0) + 1


def _wait_flushed(ctx: Context, model: str, sent: Mapping[int, int]) -> None:
    """Wait until the aggregates hold every decision sent (the flusher writes them)."""
    deadline = time.monotonic() + FLUSH_TIMEOUT_S
    while True:
        end = ctx.clock()
        with ctx.store.reading() as session:
            totals = window_totals(session, model, "production", end - WINDOW, end)
        if all(v in totals and totals[v].n >= n for v, n in sent.items()):
            return
        if time.monotonic() > deadline:
            raise RiskopsError(
                f"The decision log did not reach the store in {FLUSH_TIMEOUT_S:.0f} s."
            )
        time.sleep(0.2)


def _wait_gauges(server: _Server, alert: str) -> list[str]:
    """The server's ``riskops_monitoring_alerts_open`` lines once one names ``alert`` (its
    refresher sets them after the run); whatever they are after a few seconds otherwise."""
    deadline = time.monotonic() + 10.0
    while True:
        lines = [
            line
            for line in server.text("/metrics").splitlines()
            if line.startswith("riskops_monitoring_alerts_open{")
        ]
        if any(f'alert="{alert}"' in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def _wait_served(server: _Server, model: str, version: int | None) -> int | None:
    """Wait until /readyz lists ``version`` as the champion; the version it lists last."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    listed: int | None = None
    while time.monotonic() < deadline:
        try:
            _, body = server.get("/readyz")
        except OSError:  # 503 while the new version loads
            time.sleep(0.2)
            continue
        for lane in body.get("loaded", []):
            if lane.get("model") == model and lane.get("lane") == "champion":
                listed = int(lane["version"])
        if listed == version:
            break
        time.sleep(0.2)
    return listed
