"""The partitions a validation run used, their roles, and how often the reported sample was
already used.

A test partition is meant to be scored once, for the reported figures: every version
evaluated on it since weakens it as an unbiased test (choices made after seeing its figures
fit it). The ``partitions.test_reuse`` result records which rows the figures come from — a
key over the data fingerprint and the split (method, sizes, seed, time column), or over the
out-of-time file's fingerprint — and counts the other versions whose stored validation runs
name the same key. No table of its own: the count is read from earlier results of this check.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from riskops.registry.versions import ModelRef
from riskops.store.tables import GateResultRecord, ValidationRunRecord
from riskops.validation.gate import GateInput, GateResult

KIND = "riskops.gate/partitions@1"
GATE = "partitions.test_reuse"

ROLES = {
    "train": "fits the model",
    "validation": "tuning, the champion comparison and anything a developer iterates on",
    "test": "scored once per version, for the reported figures",
    "out_of_time": "later rows from a separate file, for the out-of-time figures",
}


def partition_key(data: GateInput, *, data_fingerprint: str, oot_fingerprint: str | None) -> str:
    """The identity of the rows the reported figures come from, as ``sha256:<hex>``."""
    sample = data.held_out.name
    if sample == "out_of_time":
        identity: dict[str, Any] = {"partition": sample, "data": oot_fingerprint}
    else:
        split = data.spec.data.split
        identity = {
            "partition": sample,
            "data": data_fingerprint,
            "split": split.model_dump(mode="json"),
        }
    text = json.dumps(identity, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def earlier_versions(session: Session, key: str, *, excluding: ModelRef) -> list[str]:
    """The versions (``name@version``) whose stored validation runs used the partition
    ``key``, other than ``excluding``, in the order they were validated."""
    rows = session.execute(
        select(
            ValidationRunRecord.model_name, ValidationRunRecord.version, GateResultRecord.evidence
        )
        .join(GateResultRecord, GateResultRecord.validation_run_id == ValidationRunRecord.id)
        .where(GateResultRecord.gate == GATE)
        .order_by(ValidationRunRecord.id)
    ).all()
    found: dict[str, None] = {}
    for name, version, evidence in rows:
        ref = f"{name}@{version}"
        if evidence.get("partition_key") == key and ref != str(excluding):
            found.setdefault(ref, None)
    return list(found)


def reuse_result(data: GateInput, *, key: str, earlier: list[str]) -> GateResult:
    """A ``reported`` result: how many other versions were already evaluated on the rows the
    figures come from, the partitions' sizes and roles."""
    sample = data.held_out
    sizes = {s.name: len(s.y) for s in data.snapshot_samples}
    if data.out_of_time is not None:
        sizes["out_of_time"] = len(data.out_of_time.y)
    if sample.name == "test":
        source = "the test partition (data.split.holdout_size), held out from training and tuning"
    elif sample.name == "out_of_time":
        source = "the out-of-time file (data.out_of_time); no test partition is kept"
    else:
        source = (
            "the validation split, not a held-out test partition: the spec sets no "
            "data.split.holdout_size, so the rows that serve tuning and the champion comparison "
            "also give the reported figures"
        )
    return GateResult(
        gate=GATE,
        kind=KIND,
        metric="earlier_versions_on_partition",
        value=float(len(earlier)),
        threshold=None,
        comparison="n/a",
        severity="advisory",
        passed=True,
        evidence={
            "sample": sample.name,
            "figures_from": source,
            "partition_key": key,
            "earlier_versions": earlier,
            "partitions": [
                {"partition": name, "rows": rows, "role": ROLES.get(name, "")}
                for name, rows in sizes.items()
            ],
            "note": (
                f"{len(earlier)} other version(s) were already evaluated on the same "
                f"{sample.name} rows; a test partition is meant to be scored once"
            ),
        },
    )
