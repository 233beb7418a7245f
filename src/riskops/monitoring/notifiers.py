"""Where monitoring alerts are sent: the log, and an Alertmanager-compatible webhook (JSON as
Alertmanager's webhook receiver gets it, format version "4"). The store is always written first
(:mod:`riskops.monitoring.alerts`); a notifier that fails leaves the run and its alerts stored.

Example::

    WebhookNotifier("http://receiver:9095/hook").send(run.fired)
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from riskops.errors import BackendError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """An alert as sent: firing or resolved, with its labels and annotations."""

    status: Literal["firing", "resolved"]
    alert: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self, at: datetime) -> Notice:
        return replace(self, status="resolved", ends_at=at)


class Notifier(Protocol):
    """Where notices go (the store is always one: :mod:`riskops.monitoring.runs`)."""

    def send(self, notices: Sequence[Notice]) -> None: ...


class LogNotifier:
    """Each notice as one log line (WARNING firing, INFO resolved)."""

    def send(self, notices: Sequence[Notice]) -> None:
        for n in notices:
            level = logging.WARNING if n.status == "firing" else logging.INFO
            log.log(
                level,
                "monitoring alert %s %s: %s (runbook %s)",
                n.alert,
                n.status,
                n.annotations.get("summary", ""),
                n.annotations.get("runbook_url", ""),
            )


def alertmanager_payload(notices: Sequence[Notice], *, receiver: str = "riskops") -> dict[str, Any]:
    """The JSON an Alertmanager webhook receiver gets (webhook format version "4"): one group,
    ``status`` firing while any alert in it fires."""
    common = _common([n.labels for n in notices])
    return {
        "version": "4",
        "groupKey": "{}:" + json.dumps(common, sort_keys=True),
        "truncatedAlerts": 0,
        "status": "firing" if any(n.status == "firing" for n in notices) else "resolved",
        "receiver": receiver,
        "groupLabels": {k: v for k, v in common.items() if k == "alertname"},
        "commonLabels": common,
        "commonAnnotations": _common([n.annotations for n in notices]),
        "externalURL": "",
        "alerts": [
            {
                "status": n.status,
                "labels": dict(n.labels),
                "annotations": dict(n.annotations),
                "startsAt": _rfc3339(n.starts_at),
                "endsAt": _rfc3339(n.ends_at) if n.ends_at else "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": n.fingerprint,
            }
            for n in notices
        ],
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class WebhookNotifier:
    """POSTs :func:`alertmanager_payload` to an Alertmanager-compatible webhook URL."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(
                f"The webhook URL {url!r} is not an http(s) URL.",
                hint="Pass e.g. --webhook http://alertmanager-receiver:9095/hook",
            )
        self.url = url
        self.timeout = timeout

    def send(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        body = json.dumps(alertmanager_payload(notices)).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                answer.read()
        except OSError as exc:
            raise BackendError(
                f"The alert webhook {self.url} did not take {len(notices)} notice(s): {exc}.",
                hint="The alerts are stored and logged all the same; check that the receiver "
                "answers at that URL.",
            ) from exc
