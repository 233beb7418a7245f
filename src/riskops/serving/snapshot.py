"""The deployment snapshot: what a scoring server last verified in the store, so that a server
(re)started while the store is down can serve it.

After each refresh that reached the store, the server writes ``deployment-snapshot.json`` in
its WAL folder (a persistent volume per process or pod), atomically (write, ``fsync``, rename,
``fsync`` of the folder) and only when its content changed::

    {"kind": "riskops.deployment-snapshot@1",
     "body": "<canonical JSON of the body below>",
     "hmac": "<hex HMAC-SHA256 of body under the snapshot key>"}

    body = {"environment", "taken_at" (ISO 8601, UTC),
            "lanes": [{"model", "version", "digest", "lane", "share", "flavor", "spec_yaml"}],
            "keys": [{"prefix", "sha256", "scopes", "name"}]}      # the active API keys

The snapshot key is ``HKDF(wal_key, info="riskops/v1/deployment-snapshot")``: only a process
holding the workspace secret can write a snapshot this server accepts; an edited, truncated or
foreign file is refused (IntegrityError), never served. The keys are the stored form (the
SHA-256 of each secret), as in the store. Each lane's artifact is loaded from the server's
local model cache with its digest checked again (:func:`riskops.serving.routing.load_lane`).

Example::

    snapshot = Snapshot.of(environment, table, keys.export(), taken_at=clock())
    write_snapshot(path, snapshot, secrets)
    read_snapshot(path, secrets, environment="production")    # the same, or IntegrityError
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from riskops.errors import IntegrityError, NotFoundError
from riskops.governance.serving import Planned
from riskops.privacy.secrets import WorkspaceSecrets, derive
from riskops.serving.routing import RoutingTable

KIND = "riskops.deployment-snapshot@1"
FILE_NAME = "deployment-snapshot.json"
SNAPSHOT_INFO = b"riskops/v1/deployment-snapshot"


@dataclass(frozen=True)
class SnapshotLane:
    """One lane as it was verified: the plan, and what loading it needs besides the store."""

    plan: Planned
    flavor: str
    spec_yaml: str


@dataclass(frozen=True)
class Snapshot:
    """The deployments and API keys a server last read from the store."""

    environment: str
    taken_at: str
    lanes: tuple[SnapshotLane, ...]
    keys: tuple[dict[str, Any], ...]

    @classmethod
    def of(
        cls,
        environment: str,
        table: RoutingTable,
        keys: list[dict[str, Any]],
        *,
        taken_at: datetime,
    ) -> Snapshot:
        lanes = tuple(
            SnapshotLane(lane.plan, lane.flavor, lane.spec_yaml)
            for route in table.routes.values()
            for lane in route.lanes()
        )
        return cls(environment, taken_at.isoformat(), lanes, tuple(keys))

    def content(self) -> dict[str, Any]:
        """Everything but the time it was taken (to tell whether anything changed)."""
        return {
            "environment": self.environment,
            "lanes": [
                {
                    "model": x.plan.model,
                    "version": x.plan.version,
                    "digest": x.plan.digest,
                    "lane": x.plan.lane,
                    "share": x.plan.share,
                    "flavor": x.flavor,
                    "spec_yaml": x.spec_yaml,
                }
                for x in self.lanes
            ],
            "keys": list(self.keys),
        }


def snapshot_key(secrets: WorkspaceSecrets) -> bytes:
    return derive(secrets.wal_key, SNAPSHOT_INFO)


def write_snapshot(path: Path, snapshot: Snapshot, secrets: WorkspaceSecrets) -> None:
    """Write ``snapshot`` to ``path`` signed, atomically (mode 0600)."""
    body = _canonical({**snapshot.content(), "taken_at": snapshot.taken_at})
    mac = hmac.new(snapshot_key(secrets), body.encode("utf-8"), hashlib.sha256).hexdigest()
    data = json.dumps({"kind": KIND, "body": body, "hmac": mac}).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_snapshot(path: Path, secrets: WorkspaceSecrets, *, environment: str) -> Snapshot:
    """The snapshot at ``path`` if its signature verifies under this workspace's secret and it
    is of ``environment``; NotFoundError if there is none, IntegrityError if it does not
    verify."""
    if not path.is_file():
        raise NotFoundError(
            f"No deployment snapshot at {path}.",
            hint="A server writes it after its first refresh that reached the store; start "
            "one while the store answers.",
        )
    refused = IntegrityError(
        f"The deployment snapshot {path} does not verify: it was edited, cut short or written "
        "with another workspace secret; refusing to serve from it.",
        hint="Restore the store so that the server reads its deployments from there (it "
        "writes a new snapshot then); report an edited snapshot as a security incident.",
    )
    try:
        outer = json.loads(path.read_bytes())
        body = outer["body"]
        mac = outer["hmac"]
        valid = outer["kind"] == KIND and isinstance(body, str) and isinstance(mac, str)
    except (ValueError, KeyError, TypeError):
        raise refused from None
    expected = hmac.new(snapshot_key(secrets), body.encode("utf-8"), hashlib.sha256).hexdigest()
    if not (valid and hmac.compare_digest(expected, mac)):
        raise refused
    data = json.loads(body)
    if data["environment"] != environment:
        raise IntegrityError(
            f"The deployment snapshot {path} is of {data['environment']!r}, not {environment!r}.",
            hint="Give each environment's server a WAL folder of its own.",
        )
    lanes = tuple(
        SnapshotLane(
            Planned(x["model"], int(x["version"]), x["digest"], x["lane"], x["share"]),
            x["flavor"],
            x["spec_yaml"],
        )
        for x in data["lanes"]
    )
    return Snapshot(data["environment"], data["taken_at"], lanes, tuple(data["keys"]))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
