"""What changed since the previous version (Annex IV point 6): the documented version set
against the registered version before it, field by field, from the two versions' records.

Compared: the artifact digest, training data (fingerprint, rows), code commit, trainer, the
spec's features, policy, gate thresholds and rationale, the trainer parameters, and the gate
results of each version's latest validation run (a check whose status changed). The first
version of a model has nothing to compare with and says so.

Example::

    changes = changes_since_previous(records)
    changes.previous  # 1, or None for a first version
    [c.what for c in changes.lines]  # ['trainer parameter n_estimators', ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riskops.documents.records import DocumentRecords
from riskops.errors import SpecError
from riskops.spec import ModelSpec, parse_spec

MAX_LINES = 60  # a long diff (every threshold of a rewritten spec) is cut, and says so


@dataclass(frozen=True)
class Change:
    """One difference: what, its value in the previous version, its value now."""

    what: str
    before: str
    after: str


@dataclass(frozen=True)
class Changes:
    """The differences from the previous version, or none for a first version."""

    previous: int | None
    lines: tuple[Change, ...]
    source: str
    cut: int = 0

    @property
    def summary(self) -> str:
        if self.previous is None:
            return "First version: no earlier version of this model is registered."
        if not self.lines:
            return (
                f"No recorded difference from v{self.previous}: same artifact, data, code and spec."
            )
        more = f" (the first {len(self.lines)} shown)" if self.cut else ""
        return f"{len(self.lines) + self.cut} difference(s) from v{self.previous}{more}."


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    """A nested mapping as ``{"gates.calibration.max_ece": 0.1, ...}``."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(f"{prefix}.{key}" if prefix else str(key), item))
        return out
    return {prefix: value}


def _diff(label: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            lines.append(
                Change(
                    f"{label} {key}",
                    "absent" if key not in before else _text(old),
                    "absent" if key not in after else _text(new),
                )
            )
    return lines


def _spec(text: str) -> ModelSpec | None:
    try:
        return parse_spec(text, source="a recorded spec").spec
    except SpecError:
        return None


def changes_since_previous(r: DocumentRecords) -> Changes:
    """The differences between ``r``'s version and the registered version before it."""
    p = r.previous
    if p is None:
        return Changes(None, (), f"model_versions #{r.version.id}")
    v = r.version
    lines: list[Change] = []
    for what, old, new in (
        ("artifact digest", p.digest, v.digest),
        ("training data fingerprint", p.data_fingerprint, v.data_fingerprint),
        ("training data rows", p.data_rows, v.data_rows),
        ("code commit", p.code_commit, v.code_commit),
        ("trainer sha256", p.trainer_sha256, v.trainer_sha256),
        ("spec sha256", p.spec_sha256, v.spec_sha256),
    ):
        if old != new:
            lines.append(Change(what, _text(old), _text(new)))
    lines += _diff("trainer parameter", _flat("", p.params), _flat("", v.params))
    before, after = _spec(p.spec_yaml), r.spec
    if before is not None and after is not None:
        old_features, new_features = set(before.feature_names), set(after.feature_names)
        for name in sorted(new_features - old_features):
            lines.append(Change(f"feature {name}", "absent", "added"))
        for name in sorted(old_features - new_features):
            lines.append(Change(f"feature {name}", "present", "removed"))
        lines += _diff(
            "policy",
            dict(before.policy_rows()),
            dict(after.policy_rows()),
        )
        lines += _diff(
            "gate threshold",
            _flat("", before.gates.model_dump(mode="json")),
            _flat("", after.gates.model_dump(mode="json")),
        )
        lines += _diff("rationale", dict(before.rationale), dict(after.rationale))
    previous_gates = next((x.gates for x in r.model.versions if x.ref.version == p.version), ())
    old_status = {str(g["gate"]): str(g.get("status")) for g in previous_gates}
    new_status = {g.gate: g.status for g in r.gates}
    if old_status and new_status:
        lines += _diff("gate result", old_status, new_status)
    cut = max(0, len(lines) - MAX_LINES)
    return Changes(
        p.version,
        tuple(lines[:MAX_LINES]),
        f"model_versions #{p.id} and #{v.id}",
        cut=cut,
    )
