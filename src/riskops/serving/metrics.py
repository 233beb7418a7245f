"""The scoring service's Prometheus metrics, in a registry owned by one app (never the global
default, so that two apps in one process, or a test, count apart).

=============================================  ===========================================
metric                                          what it counts
=============================================  ===========================================
``riskops_request_latency_seconds``             per model, version and endpoint
``riskops_decisions_total``                     per model, version, route and outcome
``riskops_score``                               the scores given, per model and version
``riskops_feature_missing_total``               a feature sent null or absent, per feature
``riskops_feature_out_of_range_total``          a feature refused as outside its min/max
``riskops_model_info``                          1 per loaded lane (model, version, digest, lane)
``riskops_fallback_total``                      fallback decisions, per model and version
``riskops_artifact_digest_mismatch_total``      artifacts refused for a digest mismatch
``riskops_decision_log_backlog``                decisions logged locally, not yet in the store
``riskops_routing_source``                       1 for where routing and keys come from now:
                                                ``store``, or ``snapshot`` (store down at start)
``riskops_decision_reads_refused_total``        decision reads refused at the read limit (503)
``riskops_requests_total``                      decision requests answered, per endpoint
                                                (``decision``, ``batch``) and HTTP status code
``riskops_ready``                               1 when every deployed version is loaded and
                                                verified (what ``/readyz`` says), else 0
``riskops_decision_log_flusher_restarts_total`` flusher processes started again after one died
``riskops_monitoring_statistic``                the latest monitoring run's drift statistics,
                                                per model, version, environment, feature and
                                                statistic
``riskops_monitoring_alerts_open``              monitoring alerts open, per model,
                                                environment, alert and severity
``riskops_monitoring_window_decisions``         decisions in the latest monitoring window
=============================================  ===========================================

**Bounded cardinality.** Every label takes its values from a closed set: model names, versions
and features from the deployed specs, outcomes from the policy, endpoints, lanes and status
codes from the code, statistics and alert names from the monitoring plan. No label ever holds
a subject, a decision id, a request value or a message. The monitoring gauges check it: a
label value must be a short name (``[A-Za-z0-9_.:-]``, at most 128 characters), a severity
one of ``warning`` and ``critical``, and a feature's series come from its spec, so a model
with F features and S statistics has at most F × S statistic series per version and
environment.

They are served at ``/metrics`` on the app's own port, or, with a metrics port
(:meth:`ServingMetrics.listen`), by a listener of their own (prometheus_client's WSGI server on
a daemon thread), so that the scoring port can stay closed to scrapers.

Example::

    metrics = ServingMetrics()
    metrics.decision(decision, route="champion")
    body = metrics.exposition()
    listener = metrics.listen("127.0.0.1", 9100)   # GET http://127.0.0.1:9100/metrics
    listener.close()
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from riskops.errors import ConfigError, InputError, Problem
from riskops.scoring.scorer import Decision

__all__ = ["CONTENT_TYPE", "MetricsListener", "ServingMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SCORE_BUCKETS = tuple(i / 20 for i in range(1, 21))
_LABEL_VALUE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
SEVERITIES = ("warning", "critical")

# What ServingMetrics.monitoring takes, one tuple per series (the value last).
StatisticResult = tuple[str, int | str, str, str, str, float]
"""(model, version, environment, feature, statistic, value)"""
AlertResult = tuple[str, str, str, str, float]
"""(model, environment, alert, severity, number open)"""
WindowResult = tuple[str, int | str, str, float]
"""(model, version, environment, decisions in the window)"""


class ServingMetrics:
    """Every metric of one scoring app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.latency = Histogram(
            "riskops_request_latency_seconds",
            "Time to answer a decision request, from receipt to response.",
            ["model", "version", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "riskops_decisions",
            "Decisions made, by outcome and route (champion, canary, shadow).",
            ["model", "version", "route", "outcome"],
            registry=r,
        )
        self.scores = Histogram(
            "riskops_score",
            "Scores given (probability of the adverse event).",
            ["model", "version"],
            buckets=_SCORE_BUCKETS,
            registry=r,
        )
        self.missing = Counter(
            "riskops_feature_missing",
            "Requests where a feature was null or absent.",
            ["model", "feature"],
            registry=r,
        )
        self.out_of_range = Counter(
            "riskops_feature_out_of_range",
            "Requests refused because a feature was outside its allowed range.",
            ["model", "feature"],
            registry=r,
        )
        self.model_info = Gauge(
            "riskops_model_info",
            "1 for each loaded model version and lane.",
            ["model", "version", "digest", "lane"],
            registry=r,
        )
        self.fallbacks = Counter(
            "riskops_fallback",
            "Decisions given as the safe outcome because the model could not answer.",
            ["model", "version"],
            registry=r,
        )
        self.digest_mismatch = Counter(
            "riskops_artifact_digest_mismatch",
            "Artifacts refused because their digest differs from the approved one.",
            ["model", "version"],
            registry=r,
        )
        # Labelled children by their labels: the hot path skips prometheus_client's label
        # checks after the first request of each combination.
        self._children: dict[tuple[str, int, str, str], tuple[Any, Any, Any]] = {}
        self._latency: dict[tuple[str, int, str], Any] = {}
        self.backlog = Gauge(
            "riskops_decision_log_backlog",
            "Decisions in the local write-ahead log not yet flushed to the store.",
            registry=r,
        )
        self.reads_refused = Counter(
            "riskops_decision_reads_refused",
            "Decision reads refused with 503 because the read limit (--max-reads) was reached.",
            registry=r,
        )

        self.routing_source = Gauge(
            "riskops_routing_source",
            "1 for where the routing table and API keys were last read from: the store, or "
            "the deployment snapshot (the store did not answer when the server started).",
            ["source"],
            registry=r,
        )

        self.requests = Counter(
            "riskops_requests",
            "Decision requests answered, by endpoint (decision, batch) and HTTP status code.",
            ["endpoint", "code"],
            registry=r,
        )
        self._requests: dict[tuple[str, int], Any] = {}
        self.ready = Gauge(
            "riskops_ready",
            "1 when every deployed version is loaded with its digest verified (/readyz), else 0.",
            registry=r,
        )
        self.flusher_restarts = Counter(
            "riskops_decision_log_flusher_restarts",
            "Decision-log flusher processes started again because the previous one died.",
            registry=r,
        )
        self.monitoring_statistic = Gauge(
            "riskops_monitoring_statistic",
            "A drift statistic of the latest monitoring run (window against the reference).",
            ["model", "version", "environment", "feature", "statistic"],
            registry=r,
        )
        self.monitoring_alerts = Gauge(
            "riskops_monitoring_alerts_open",
            "Monitoring alerts open now, by alert and severity.",
            ["model", "environment", "alert", "severity"],
            registry=r,
        )
        self.monitoring_window = Gauge(
            "riskops_monitoring_window_decisions",
            "Decisions in the window of the latest monitoring run.",
            ["model", "version", "environment"],
            registry=r,
        )

    def source(self, source: str) -> None:
        """Say where the routing table now comes from (``store`` or ``snapshot``)."""
        for name in ("store", "snapshot"):
            self.routing_source.labels(name).set(1.0 if name == source else 0.0)

    def decision(self, decision: Decision, *, route: str) -> None:
        decided, fallbacks, scores = self._child(
            decision.model, decision.version, route, decision.decision
        )
        decided.inc()
        if decision.fallback:
            fallbacks.inc()
        elif decision.score is not None:
            scores.observe(decision.score)

    def decisions_of(self, decisions: Iterable[Decision], *, route: str) -> None:
        """:meth:`decision` for each of ``decisions`` (a batch request's, on one route), with
        each counter moved once by its count: the same series and values, fewer updates."""
        counted: dict[tuple[str, int, str], int] = {}
        fallen: dict[tuple[str, int, str], int] = {}
        for d in decisions:
            key = (d.model, d.version, d.decision)
            counted[key] = counted.get(key, 0) + 1
            if d.fallback:
                fallen[key] = fallen.get(key, 0) + 1
            elif d.score is not None:
                self._child(d.model, d.version, route, d.decision)[2].observe(d.score)
        for (model, version, outcome), n in counted.items():
            decided, fallbacks, _ = self._child(model, version, route, outcome)
            decided.inc(n)
            if (model, version, outcome) in fallen:
                fallbacks.inc(fallen[model, version, outcome])

    def _child(self, model: str, version: int, route: str, outcome: str) -> tuple[Any, Any, Any]:
        """The decision counter, fallback counter and score histogram of these labels."""
        key = (model, version, route, outcome)
        children = self._children.get(key)
        if children is None:  # first time for these labels (at most a few per version)
            children = self._children[key] = (
                self.decisions.labels(model, str(version), route, outcome),
                self.fallbacks.labels(model, str(version)),
                self.scores.labels(model, str(version)),
            )
        return children

    def observe_latency(self, model: str, version: int, endpoint: str, seconds: float) -> None:
        """One request's time to answer."""
        key = (model, version, endpoint)
        child = self._latency.get(key)
        if child is None:
            child = self._latency[key] = self.latency.labels(model, str(version), endpoint)
        child.observe(seconds)

    def problems(self, model: str, problems: Iterable[Problem]) -> None:
        """Count missing and out-of-range features of a refused request, by problem code."""
        for problem in problems:
            feature = problem.location.rsplit(".", 1)[-1]
            if problem.code == "missing":
                self.missing.labels(model, feature).inc()
            elif problem.code == "out_of_range":
                self.out_of_range.labels(model, feature).inc()

    def missing_values(self, model: str, features: dict[str, object], names: Iterable[str]) -> None:
        """Count features an accepted request left null or absent (allowed by the spec)."""
        for name in names:
            if features.get(name) is None:
                self.missing.labels(model, name).inc()

    def loaded(self, lanes: Iterable[tuple[str, int, str, str]]) -> None:
        """Set the model info gauge to exactly ``lanes`` (model, version, digest, lane)."""
        self.model_info.clear()
        for model, version, digest, lane in lanes:
            self.model_info.labels(model, str(version), digest, lane).set(1)

    def watch_backlog(self, read: Callable[[], int]) -> None:
        self.backlog.set_function(lambda: float(read()))

    def watch_ready(self, read: Callable[[], bool]) -> None:
        """Read readiness at each scrape (``riskops_ready``)."""
        self.ready.set_function(lambda: 1.0 if read() else 0.0)

    def request(self, endpoint: str, status: int) -> None:
        """One decision request answered with HTTP ``status`` (the availability SLO's
        numerator and denominator: ``code=~"5.."`` over all)."""
        key = (endpoint, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(endpoint, str(status))
        child.inc()

    def monitoring(
        self,
        *,
        statistics: Iterable[StatisticResult] = (),
        alerts: Iterable[AlertResult] = (),
        windows: Iterable[WindowResult] = (),
        scope: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Set the monitoring gauges to a run's results.

        Every series of each (model, environment) named anywhere in the call (or in ``scope``:
        a model whose latest run had no decisions names itself there) is replaced:
        those not given again are removed (an alert that closed, a version no longer
        monitored), so a run that finds no open alert for a model clears its alerts by
        naming the model in ``statistics`` or ``windows``. Series of other models and
        environments are left as they are. Nothing is changed when any tuple is refused:
        InputError for a label that is not a short name, a severity other than ``warning``
        or ``critical``, or a value that is not a number.
        """
        stats = [_checked(row, 5) for row in statistics]
        opened = [_checked(row, 4) for row in alerts]
        counted = [_checked(row, 3) for row in windows]
        for row in opened:
            if row[3] not in SEVERITIES:
                raise InputError(
                    f"Monitoring alert {row[2]!r} has severity {row[3]!r}; it must be one of "
                    f"{', '.join(SEVERITIES)}.",
                    hint="Give each alert rule a severity of warning or critical in the spec.",
                )
        named = {(r[0], r[2]) for r in stats} | {(r[0], r[1]) for r in opened}
        named |= {(r[0], r[2]) for r in counted} | {(str(m), str(e)) for m, e in scope}
        for gauge, model_at, env_at, rows in (
            (self.monitoring_statistic, 0, 2, stats),
            (self.monitoring_alerts, 0, 1, opened),
            (self.monitoring_window, 0, 2, counted),
        ):
            for labels in _series(gauge):
                if (labels[model_at], labels[env_at]) in named:
                    gauge.remove(*labels)
            for row in rows:
                gauge.labels(*row[:-1]).set(row[-1])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def listen(self, host: str, port: int) -> MetricsListener:
        """Serve these metrics at ``http://host:port/metrics`` (port 0: any free port) until
        the listener is closed; ConfigError when the address cannot be bound."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(
                f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}.",
                hint="Choose a free port: riskops serve --metrics-port PORT",
            ) from exc
        return MetricsListener(server, thread)


def _checked(row: tuple[Any, ...], labels: int) -> tuple[Any, ...]:
    """``row`` as (label values as str…, value as float): InputError when a label is not a
    short name or the value is not a number (NaN is allowed: not computed; so is infinity)."""
    if len(row) != labels + 1:
        raise InputError(
            f"A monitoring result has {len(row)} fields, {labels + 1} were expected: {row!r}.",
            hint="See ServingMetrics.monitoring for the fields of each kind of result.",
        )
    names = tuple(str(v) for v in row[:labels])
    for name in names:
        if _LABEL_VALUE.fullmatch(name) is None:
            raise InputError(
                f"Monitoring label value {name[:60]!r} is not a short name: labels hold "
                "model, feature, statistic and alert names (letters, digits, _ . : -, at most "
                "128 characters), never free text.",
                hint="Use the names from the model's spec and monitoring plan.",
            )
    value = row[labels]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"Monitoring value {value!r} for {names} is not a number.",
            hint="Give each result's value as a float (NaN when it could not be computed).",
        )
    return (*names, float(value))


def _series(gauge: Gauge) -> list[tuple[str, ...]]:
    """The label values of every series ``gauge`` holds now."""
    return [
        tuple(sample.labels[name] for name in gauge._labelnames)
        for metric in gauge.collect()
        for sample in metric.samples
    ]


@dataclass
class MetricsListener:
    """A running metrics listener (see :meth:`ServingMetrics.listen`)."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
