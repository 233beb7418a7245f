"""Serving the German credit LightGBM model over HTTP: riskops against ``mlflow models serve``,
a bare FastAPI endpoint, and the model's own predict in-process.

What runs, all on 127.0.0.1 and one after another (never two servers at once):

- **riskops**: ``riskops demo`` builds a fresh workspace in a temporary ``RISKOPS_HOME`` (the
  repository's ``models/credit_scoring/model.yaml``), ``riskops keys create bench --client
  bench --scope score`` makes a key, and ``riskops serve`` (one uvicorn worker) answers
  ``POST /v1/models/credit-scoring/decisions`` — input validation, the policy's decision,
  TreeSHAP reason codes for every refer/decline, the decision fsync'd to the durable log before
  the answer. Every request is a new subject (a fresh subject id), its features a row of
  ``data/german_credit/german_credit.csv``, cycling through all 1,000 applicants.
- **mlflow**: ``mlflow models serve --env-manager local --workers 1`` on the artifact folder of
  the same registered version, answering ``POST /invocations`` with the same rows as
  ``{"dataframe_split": ...}`` of the encoded float features (the model's signature).
- **bare**: the serving floor — a FastAPI endpoint defined here, run by uvicorn (one worker) in
  a subprocess, that parses a JSON list of floats and returns ``booster.predict`` of that numpy
  row; no validation, no logging, no reasons.
- **riskops, 2 workers** and **bare, 2 workers**: the same two with ``--workers 2`` (each
  riskops worker with its own WAL slot and flusher), for the scaling target (N workers ≥ 0.8 × N
  the throughput of one) and the ratio to the floor at equal workers.
- **in-process**: the compute floor — ``booster.predict`` and ``predict(pred_contrib=True)`` on
  one numpy row.

Before the load, the three servers and the in-process booster score the same rows and the
script prints how far apart their scores are. The load comes from a separate process (this
script with ``--load``): one asyncio loop holding N keep-alive HTTP/1.1 connections, each sending
its next request as soon as the previous answer is in (a closed loop), at N = 1, 8 and 32; each
cell warms up, then measures for ``--seconds``. An error is any answer other than 200, or a
connection that fails or times out. Servers are stopped by their process group, and the
temporary workspace is deleted, whatever happens.

Usage: python benchmarks/serving.py [--seconds S] [--warmup S] [--concurrency 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any
from urllib.parse import urlsplit

import numpy as np

# Imported here rather than in bare_main: with postponed annotations, FastAPI resolves the bare
# endpoint's ``request: Request`` in this module's globals.
from fastapi import FastAPI, Request, Response

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "models" / "credit_scoring" / "model.yaml"
DATA = REPO / "data" / "german_credit" / "german_credit.csv"
BIN = Path(sys.executable).parent
MODEL = "credit-scoring"
DECISIONS_PATH = f"/v1/models/{MODEL}/decisions"
SUBJECT_SLOT = "@@@@@@@@@@"  # replaced per request by a 10-digit counter: every subject is new
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
OUTCOMES = ("approve", "refer", "decline")
WORKERS = 2  # the multi-worker rows: riskops serve --workers 2 against the bare floor's 2


# -- the load generator (its own process) -------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """What one server is sent: the path, the headers and the request bodies to cycle through."""

    path: str
    headers: dict[str, str]
    bodies: list[str]

    def write(self, path: Path) -> None:
        path.write_text(
            json.dumps({"path": self.path, "headers": self.headers, "bodies": self.bodies})
        )

    @classmethod
    def read(cls, path: Path) -> Traffic:
        raw = json.loads(path.read_text())
        return cls(raw["path"], raw["headers"], raw["bodies"])


class _Tally:
    """What the connections of one cell saw within the measured window."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.adverse_without_reasons = 0
        self.answered = 0  # every answer, warm-up included (for CPU per request)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])

    def answer(self, body: bytes) -> None:
        # riskops' answers name the decision; the compact JSON makes a byte search enough.
        for outcome in OUTCOMES:
            if b'"decision":"' + outcome.encode() + b'"' in body:
                self.outcomes[outcome] += 1
                if outcome != "approve" and b'"reasons":[]' in body:
                    self.adverse_without_reasons += 1
                return


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server closes the connection, of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        body = await reader.readexactly(int(head[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        raise ValueError(f"an answer without a length: {head[:200]!r}")
    return status, body, b"\r\nconnection: close" in lower


async def _connection(
    host: str,
    port: int,
    requests: Sequence[tuple[bytes, bytes]],
    offset: int,
    counter: Iterator[int],
    measure_from: float,
    stop_at: float,
    tally: _Tally,
) -> None:
    """One keep-alive connection sending request after request until ``stop_at``; answers that
    complete within [measure_from, stop_at] are counted."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = offset
    try:
        while perf_counter() < stop_at:
            head, body = requests[i % len(requests)]
            i += 1
            if SUBJECT_SLOT.encode() in body:
                body = body.replace(SUBJECT_SLOT.encode(), b"%010d" % next(counter))
            started = perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(head + body)
                status, answer, close = await asyncio.wait_for(
                    _read_response(reader), REQUEST_TIMEOUT_S
                )
            except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
                if measure_from <= perf_counter() <= stop_at:
                    tally.error(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            finished = perf_counter()
            tally.answered += 1
            if close:
                writer.close()
                reader = writer = None
            if not measure_from <= finished <= stop_at:
                continue
            if status != 200:
                tally.error(f"HTTP {status}: {answer[:240].decode(errors='replace')}")
                continue
            tally.latencies.append(finished - started)
            tally.answer(answer)
    finally:
        if writer is not None:
            writer.close()


def _raw_requests(traffic: Traffic, host: str, port: int) -> list[tuple[bytes, bytes]]:
    extra = "".join(f"{k}: {v}\r\n" for k, v in traffic.headers.items())
    out = []
    for text in traffic.bodies:
        body = text.encode()
        head = (
            f"POST {traffic.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        out.append((head, body))
    return out


async def _load(
    url: str, traffic: Traffic, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", int(parts.port or 80)
    requests = _raw_requests(traffic, host, port)
    tally = _Tally()
    counter = iter(range(10**10))
    measure_from = perf_counter() + warmup
    stop_at = measure_from + seconds
    spread = max(1, len(requests) // concurrency)
    cpu = time.process_time()
    await asyncio.gather(
        *(
            _connection(host, port, requests, k * spread, counter, measure_from, stop_at, tally)
            for k in range(concurrency)
        )
    )
    latencies_ms = np.asarray(tally.latencies, dtype=np.float64) * 1000.0
    done = len(latencies_ms)
    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "completed": done,
        "throughput": done / seconds,
        "p50_ms": float(np.percentile(latencies_ms, 50)) if done else float("nan"),
        "p99_ms": float(np.percentile(latencies_ms, 99)) if done else float("nan"),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "outcomes": tally.outcomes,
        "adverse_without_reasons": tally.adverse_without_reasons,
        "answered": tally.answered,
        "client_cpu_s": time.process_time() - cpu,
    }


def load_main(args: argparse.Namespace) -> None:
    traffic = Traffic.read(Path(args.traffic))
    result = asyncio.run(_load(args.load, traffic, args.clients, args.seconds, args.warmup))
    print(json.dumps(result))


# -- the bare endpoint (its own process) --------------------------------------------------------


def bare_app() -> FastAPI:
    """A FastAPI app whose one endpoint is ``booster.predict`` of the posted list of floats
    (the model file named by ``RISKOPS_BENCH_MODEL_FILE``): a factory, so that uvicorn can start
    it in several worker processes."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=os.environ["RISKOPS_BENCH_MODEL_FILE"])
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        row = np.asarray([json.loads(await request.body())], dtype=np.float64)
        score = float(booster.predict(row, num_threads=1)[0])
        return Response(json.dumps({"score": score}), media_type="application/json")

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bare_main(args: argparse.Namespace) -> None:
    """Serve :func:`bare_app` with ``--workers`` uvicorn workers."""
    import uvicorn

    os.environ["RISKOPS_BENCH_MODEL_FILE"] = args.model_file
    uvicorn.run(
        f"{Path(__file__).stem}:bare_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


# -- running the servers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; then ppid, pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and its children: SIGTERM to the process group it leads, then SIGKILL."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def _server(
    name: str, command: list[str], env: dict[str, str], ready_url: str, logs: Path
) -> Iterator[int]:
    """Run ``command`` in a new process group until the block ends; wait until ``ready_url``
    answers 200."""
    import httpx

    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(ready_url, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not ready in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        print(f"  {name} ready in {time.monotonic() - started:.1f} s", flush=True)
        yield process.pid
    finally:
        _stop(process)


def _run_load(
    url: str, traffic_file: Path, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--load",
        url,
        "--traffic",
        str(traffic_file),
        "--clients",
        str(concurrency),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + warmup + 120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- the workspace, the rows, the checks ---------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    version: int
    digest: str
    model_dir: Path


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "riskops"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"riskops {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def _deployed(home: Path) -> Deployed:
    """The version serving in production, with its approved digest and artifact folder."""
    from riskops.config import load_settings
    from riskops.context import open_context
    from riskops.governance.deployments import serving_at
    from riskops.registry.versions import ModelRef, get_version

    ctx = open_context(load_settings(home=home))
    try:
        with ctx.store.reading() as session:
            row = serving_at(session, MODEL, "production")
            assert row is not None, "the demo leaves a version serving in production"
            version = get_version(session, ModelRef(MODEL, row.version))
            uri = urlsplit(version.artifact_uri)
            return Deployed(version.version, version.digest, Path(uri.path))
    finally:
        ctx.close()


def _rows() -> tuple[list[str], list[dict[str, object]], np.ndarray]:
    """The spec's feature names, each CSV row as a request carries it (numbers as numbers,
    categories as text), and the rows encoded as training encodes them."""
    import pandas as pd

    from riskops.datasets.encoding import encode_frame, typed_frame
    from riskops.spec import load_spec

    spec = load_spec(SPEC).spec
    frame = pd.read_csv(DATA)
    requests: list[dict[str, object]] = [
        {
            f.name: int(record[f.name]) if f.type == "numeric" else str(record[f.name])
            for f in spec.features
        }
        for record in frame.to_dict(orient="records")
    ]
    return list(spec.feature_names), requests, encode_frame(typed_frame(frame, spec))


def _check_scores(
    sample: Sequence[int],
    reference: np.ndarray,
    post: Callable[[int], float],
    name: str,
) -> float:
    got = np.asarray([post(i) for i in sample])
    diff = float(np.max(np.abs(got - reference[list(sample)])))
    print(
        f"  {name}: {len(sample)} rows across the score range, max |score − in-process "
        f"booster.predict| = {diff:.2e}"
    )
    return diff


def _time(call: Callable[[], object], seconds: float) -> np.ndarray:
    for _ in range(100):
        call()
    samples: list[int] = []
    deadline = perf_counter() + seconds
    while perf_counter() < deadline and len(samples) < 500_000:
        start = perf_counter_ns()
        call()
        samples.append(perf_counter_ns() - start)
    return np.asarray(samples, dtype=np.float64)


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("mlflow", "lightgbm", "fastapi", "uvicorn")
    )
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}; {versions}"


# -- the benchmark --------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def bench_main(args: argparse.Namespace) -> None:
    import httpx
    import lightgbm as lgb

    concurrencies = [int(c) for c in args.concurrency.split(",")]
    args.load_start = os.getloadavg()[0]
    # SIGTERM (and SIGINT) end the run through the finally blocks: servers stopped, files gone.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    work = Path(tempfile.mkdtemp(prefix="riskops-bench-serving-"))
    try:
        home = work / "home"
        env = {
            **os.environ,
            "RISKOPS_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        env.pop("RISKOPS_ACTOR", None)
        print(f"Serving benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {_machine()}")
        started = time.monotonic()
        _cli(env, "demo", "--spec", str(SPEC))
        token = json.loads(
            _cli(
                env,
                "keys",
                "create",
                "bench",
                "--client",
                "bench",
                "--scope",
                "score",
                "--as",
                "oscar",
                "--json",
            )
        )["key"]
        deployed = _deployed(home)
        print(
            f"  workspace from `riskops demo` in {time.monotonic() - started:.1f} s; serving "
            f"{MODEL}@{deployed.version} ({deployed.digest[:19]}…)"
        )
        names, requests, matrix = _rows()
        booster = lgb.Booster(model_file=str(deployed.model_dir / "model.lgb"))
        reference = np.asarray(booster.predict(matrix, num_threads=1), dtype=np.float64)
        # Rows across the whole score range: approvals, refers and declines.
        order = np.argsort(reference)
        sample = [int(order[int(q * (len(order) - 1))]) for q in np.linspace(0.0, 1.0, 12)]

        # The compute floor, in this process, before any server runs.
        row = matrix[sample[-1] : sample[-1] + 1]
        floor_seconds = min(args.seconds, 2.0)
        floors = [
            ("booster.predict, 1 row", _time(lambda: booster.predict(row), floor_seconds)),
            (
                "booster.predict, 1 row, num_threads=1",
                _time(lambda: booster.predict(row, num_threads=1), floor_seconds),
            ),
            (
                "booster.predict(pred_contrib), 1 row, num_threads=1",
                _time(
                    lambda: booster.predict(row, pred_contrib=True, num_threads=1), floor_seconds
                ),
            ),
        ]

        auth = {"Authorization": f"Bearer {token}"}
        riskops_traffic = Traffic(
            DECISIONS_PATH,
            auth,
            [
                json.dumps(
                    {"subject_id": f"bench-{SUBJECT_SLOT}", "features": features},
                    separators=(",", ":"),
                )
                for features in requests
            ],
        )
        mlflow_traffic = Traffic(
            "/invocations",
            {},
            [
                json.dumps(
                    {"dataframe_split": {"columns": names, "data": [encoded.tolist()]}},
                    separators=(",", ":"),
                )
                for encoded in matrix
            ],
        )
        bare_traffic = Traffic("/predict", {}, [json.dumps(encoded.tolist()) for encoded in matrix])
        logs = work / "logs"
        logs.mkdir()

        def riskops_score(i: int) -> float:
            body = {"subject_id": f"check-{i}", "features": requests[i]}
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                answer = httpx.post(base + DECISIONS_PATH, json=body, headers=auth, timeout=10)
                # With --workers 2 the other worker may still be loading: it says retry.
                if answer.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(float(answer.headers.get("retry-after", "1")))
            answer.raise_for_status()
            got = answer.json()
            checked[got["decision"]] = checked.get(got["decision"], 0) + 1
            if got["decision"] != "approve" and not got["reasons"]:
                raise RuntimeError(f"an adverse decision without reasons: {got}")
            return float(got["score"])

        def mlflow_score(i: int) -> float:
            body = json.loads(mlflow_traffic.bodies[i])
            answer = httpx.post(base + "/invocations", json=body, timeout=10)
            answer.raise_for_status()
            return float(answer.json()["predictions"][0])

        def bare_score(i: int) -> float:
            answer = httpx.post(base + "/predict", content=bare_traffic.bodies[i], timeout=10)
            answer.raise_for_status()
            return float(answer.json()["score"])

        servers: list[tuple[str, list[str], str, Traffic, Callable[[int], float]]] = [
            (
                "riskops",
                [
                    str(BIN / "riskops"),
                    "serve",
                    "--env",
                    "production",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "{port}",
                ],
                "/readyz",
                riskops_traffic,
                riskops_score,
            ),
            (
                "riskops-2w",
                [
                    str(BIN / "riskops"),
                    "serve",
                    "--env",
                    "production",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "{port}",
                    "--workers",
                    str(WORKERS),
                ],
                "/readyz",
                riskops_traffic,
                riskops_score,
            ),
            (
                "mlflow",
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(deployed.model_dir),
                    "--env-manager",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "{port}",
                    "--workers",
                    "1",
                ],
                "/ping",
                mlflow_traffic,
                mlflow_score,
            ),
            (
                "bare",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--bare-server",
                    "--model-file",
                    str(deployed.model_dir / "model.lgb"),
                    "--port",
                    "{port}",
                ],
                "/ping",
                bare_traffic,
                bare_score,
            ),
            (
                "bare-2w",
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--bare-server",
                    "--model-file",
                    str(deployed.model_dir / "model.lgb"),
                    "--port",
                    "{port}",
                    "--workers",
                    str(WORKERS),
                ],
                "/ping",
                bare_traffic,
                bare_score,
            ),
        ]
        results: dict[tuple[str, int], dict[str, Any]] = {}
        checked: dict[str, int] = {}
        for name, template, ready_path, traffic, score in servers:
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            command = [part.replace("{port}", str(port)) for part in template]
            traffic_file = work / f"{name}-traffic.json"
            traffic.write(traffic_file)
            print(f"{name}:", flush=True)
            with _server(name, command, env, base + ready_path, logs) as pgid:
                _check_scores(sample, reference, score, name)
                if name.startswith("riskops"):
                    print(
                        f"  riskops decisions of those rows: {checked} (each refer/decline "
                        "with reasons)"
                    )
                for concurrency in concurrencies:
                    cpu = _group_cpu_seconds(pgid)
                    cell = _run_load(base, traffic_file, concurrency, args.seconds, args.warmup)
                    answered = max(cell["answered"], 1)
                    cell["server_cpu_ms"] = (_group_cpu_seconds(pgid) - cpu) / answered * 1e3
                    cell["client_cpu_ms"] = cell["client_cpu_s"] / answered * 1e3
                    results[(name, concurrency)] = cell
                    print(
                        f"  concurrency {concurrency:>2}: {cell['throughput']:>7,.0f} req/s, "
                        f"p50 {cell['p50_ms']:.2f} ms, p99 {cell['p99_ms']:.2f} ms, "
                        f"{cell['errors']} errors; CPU per request: server "
                        f"{cell['server_cpu_ms']:.2f} ms, load generator "
                        f"{cell['client_cpu_ms']:.2f} ms",
                        flush=True,
                    )
                    for sample_error in cell["error_samples"]:
                        print(f"    error: {sample_error}")
        _report(args, results, concurrencies, floors, checked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(
    args: argparse.Namespace,
    results: dict[tuple[str, int], dict[str, Any]],
    concurrencies: Sequence[int],
    floors: Sequence[tuple[str, np.ndarray]],
    checked: dict[str, int],
) -> None:
    print()
    print(
        f"Single-decision HTTP requests, closed loop from a separate load process, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s per cell"
    )
    header = (
        f"{'server':<34} {'conc.':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'server CPU ms/req':>17}"
    )
    print(header)
    print("-" * len(header))
    labels = {
        "riskops": "riskops serve (full decision)",
        "riskops-2w": f"riskops serve --workers {WORKERS}",
        "mlflow": "mlflow models serve",
        "bare": "bare FastAPI + booster.predict",
        "bare-2w": f"bare FastAPI, {WORKERS} workers",
    }
    for name, label in labels.items():
        for c in concurrencies:
            cell = results[(name, c)]
            print(
                f"{label:<34} {c:>5} {cell['throughput']:>8,.0f} {cell['p50_ms']:>8.2f} "
                f"{cell['p99_ms']:>8.2f} {cell['errors']:>7} {cell['server_cpu_ms']:>17.2f}"
            )
    outcomes = {
        o: sum(results[("riskops", c)]["outcomes"][o] for c in concurrencies) for o in OUTCOMES
    }
    total = sum(outcomes.values())
    adverse = outcomes["refer"] + outcomes["decline"]
    missing = sum(results[("riskops", c)]["adverse_without_reasons"] for c in concurrencies)
    share = {o: f"{n / max(total, 1):.0%}" for o, n in outcomes.items()}
    print(
        f"riskops decisions measured: {total:,} — approve {share['approve']}, refer "
        f"{share['refer']}, decline {share['decline']}; reason codes computed for "
        f"{adverse / max(total, 1):.0%} (every refer/decline; {missing} adverse without reasons)"
    )
    print(
        f"Load average (1 min) at the start {args.load_start:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    print()
    print("In-process compute floor (one numpy row)")
    head = f"{'call':<52} {'p50 µs':>8} {'p99 µs':>8} {'calls/s':>9}"
    print(head)
    print("-" * len(head))
    for what, samples in floors:
        print(
            f"{what:<52} {np.percentile(samples, 50) / 1e3:>8.1f} "
            f"{np.percentile(samples, 99) / 1e3:>8.1f} {1e9 / samples.mean():>9,.0f}"
        )
    print()
    print("Targets (DESIGN.md)")
    head = (
        f"{'conc.':>5} {'riskops/mlflow req/s (≥10)':>27} {'riskops/mlflow p99 (≤0.1)':>26} "
        f"{'riskops/bare req/s (≥0.5)':>26}"
    )
    print(head)
    print("-" * len(head))
    for c in concurrencies:
        r, m, b = results[("riskops", c)], results[("mlflow", c)], results[("bare", c)]
        speed = _ratio(r["throughput"], m["throughput"])
        tail = _ratio(r["p99_ms"], m["p99_ms"])
        floor = _ratio(r["throughput"], b["throughput"])
        print(
            f"{c:>5} {speed:>22.1f} {'met' if speed >= 10 else 'MISS':>4} "
            f"{tail:>21.3f} {'met' if tail <= 0.1 else 'MISS':>4} "
            f"{floor:>21.2f} {'met' if floor >= 0.5 else 'MISS':>4}"
        )
    print()
    head = (
        f"{'conc.':>5} {f'riskops {WORKERS}w/1w req/s (≥{0.8 * WORKERS:g})':>30} "
        f"{f'bare {WORKERS}w/1w req/s':>22} {f'riskops/bare, {WORKERS}w (≥0.5)':>28}"
    )
    print(head)
    print("-" * len(head))
    for c in concurrencies:
        r1, r2 = results[("riskops", c)], results[("riskops-2w", c)]
        b1, b2 = results[("bare", c)], results[("bare-2w", c)]
        scale = _ratio(r2["throughput"], r1["throughput"])
        floor = _ratio(r2["throughput"], b2["throughput"])
        print(
            f"{c:>5} {scale:>25.2f} {'met' if scale >= 0.8 * WORKERS else 'MISS':>4} "
            f"{_ratio(b2['throughput'], b1['throughput']):>22.2f} "
            f"{floor:>23.2f} {'met' if floor >= 0.5 else 'MISS':>4}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per cell")
    parser.add_argument("--concurrency", default="1,8,32", help="connections, comma-separated")
    # Internal modes: the load process and the bare endpoint's server.
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--traffic", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-file", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
    elif args.bare_server:
        bare_main(args)
    else:
        try:
            bench_main(args)
        except KeyboardInterrupt as stop:
            print(f"Interrupted ({stop}); servers stopped and temporary files removed.")
            sys.exit(130)


if __name__ == "__main__":
    main()
