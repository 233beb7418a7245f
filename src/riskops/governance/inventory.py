"""Read views over the store: every model with its versions, and one model in depth
(versions with state, metrics, sign-offs with findings, opinion and conditions, the findings
log and the conditions of approval with their status, gate results, gate overrides, lineage,
and deployment history), optionally as of a past moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from riskops.context import Context
from riskops.governance.approvals import approvals_of
from riskops.governance.conditions import ConditionState, conditions_of
from riskops.governance.deployments import history, serving_at
from riskops.governance.findings import findings_of
from riskops.governance.overrides import overrides_of
from riskops.registry.versions import ModelRef, get_model, list_versions
from riskops.store.tables import GateResultRecord, ModelRecord, ValidationRunRecord


@dataclass(frozen=True)
class VersionView:
    ref: ModelRef
    state: str
    serving_in: tuple[str, ...]
    metrics: dict[str, float]
    params: dict[str, Any]
    approvals: tuple[dict[str, Any], ...]
    gates: tuple[dict[str, Any], ...]
    lineage: dict[str, Any]
    trained_by: str
    created_at: datetime
    overrides: tuple[dict[str, Any], ...] = ()
    fairness: tuple[dict[str, Any], ...] = ()
    findings_log: tuple[dict[str, Any], ...] = ()
    conditions: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.ref),
            "version": self.ref.version,
            "state": self.state,
            "serving_in": list(self.serving_in),
            "metrics": self.metrics,
            "params": self.params,
            "approvals": list(self.approvals),
            "gates": list(self.gates),
            "overrides": list(self.overrides),
            "fairness": list(self.fairness),
            "findings_log": list(self.findings_log),
            "conditions": list(self.conditions),
            "lineage": self.lineage,
            "trained_by": self.trained_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ModelView:
    name: str
    risk_tier: str
    owner: str
    intended_use: str
    serving: dict[str, int | None]
    versions: tuple[VersionView, ...]
    deployments: tuple[dict[str, Any], ...]
    at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "risk_tier": self.risk_tier,
            "owner": self.owner,
            "intended_use": self.intended_use,
            "serving": self.serving,
            "at": self.at.isoformat() if self.at else None,
            "versions": [v.as_dict() for v in self.versions],
            "deployments": list(self.deployments),
        }


FAIRNESS_KIND = "riskops.gate/fairness@1"
_FAIRNESS_SUMMARY = (
    "rows",
    "data",
    "min_group_size",
    "reference",
    "approval_rate_ratio",
    "equal_opportunity_difference",
    "calibration_difference",
    "exclusions",
)


def fairness_by_group(records: list[GateResultRecord]) -> tuple[dict[str, Any], ...]:
    """Per protected attribute of one validation run, as the fairness gate recorded it: the
    groups' rows (``group``, ``count`` and every metric value stored for it, ``excluded`` when
    too small to compare), the comparison statistics, and the attribute's results."""
    by_attribute: dict[str, dict[str, Any]] = {}
    for record in records:
        evidence = record.evidence or {}
        attribute = evidence.get("attribute")
        if record.kind != FAIRNESS_KIND or not isinstance(attribute, str):
            continue
        entry = by_attribute.get(attribute)
        if entry is None:
            entry = by_attribute[attribute] = {
                "attribute": attribute,
                **{key: evidence[key] for key in _FAIRNESS_SUMMARY if key in evidence},
                "groups": [dict(row) for row in evidence.get("groups", [])],
                "results": [],
            }
        entry["results"].append(
            {
                "gate": record.gate,
                "metric": record.metric,
                "value": record.value,
                "threshold": record.threshold,
                "comparison": record.comparison,
                "status": evidence.get("status") or ("passed" if record.passed else "failed"),
            }
        )
    return tuple(by_attribute.values())


def describe_model(ctx: Context, name: str, *, at: datetime | None = None) -> ModelView:
    """One model in depth; with ``at``, ``serving`` says what served in each environment then."""
    with ctx.store.reading() as session:
        model = get_model(session, name)
        serving: dict[str, int | None] = {}
        for env in ctx.settings.environments:
            row = serving_at(session, name, env, at)
            serving[env] = row.version if row is not None else None
        now_serving = {
            env: (row.version if (row := serving_at(session, name, env)) else None)
            for env in ctx.settings.environments
        }
        versions = []
        for v in list_versions(session, name):
            ref = ModelRef(name, v.version)
            last_run = session.execute(
                select(ValidationRunRecord)
                .where(
                    ValidationRunRecord.model_name == name, ValidationRunRecord.version == v.version
                )
                .order_by(ValidationRunRecord.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            gates: tuple[dict[str, Any], ...] = ()
            fairness: tuple[dict[str, Any], ...] = ()
            if last_run is not None:
                records = list(
                    session.execute(
                        select(GateResultRecord)
                        .where(GateResultRecord.validation_run_id == last_run.id)
                        .order_by(GateResultRecord.id)
                    ).scalars()
                )
                fairness = fairness_by_group(records)
                gates = tuple(
                    {
                        "gate": g.gate,
                        "value": g.value,
                        "threshold": g.threshold,
                        "comparison": g.comparison,
                        "severity": g.severity,
                        "passed": g.passed,
                        # recorded since validation counted not-applicable checks apart
                        "status": (g.evidence or {}).get("status")
                        or ("passed" if g.passed else "failed"),
                    }
                    for g in records
                )
            versions.append(
                VersionView(
                    ref=ref,
                    state=v.state,
                    serving_in=tuple(e for e, sv in now_serving.items() if sv == v.version),
                    metrics=dict(v.metrics),
                    params=dict(v.params),
                    approvals=tuple(
                        {
                            "actor": a.actor,
                            "role": a.role,
                            "decision": a.decision,
                            "note": a.note,
                            "findings": a.findings,
                            "conditions": list(a.conditions),
                            "opinion": a.opinion,
                            "at": a.created_at.isoformat(),
                        }
                        for a in approvals_of(session, ref)
                    ),
                    overrides=tuple(
                        {
                            "gate": o.gate,
                            "validation_run_id": o.validation_run_id,
                            "actor": o.actor,
                            "justification": o.justification,
                            "at": o.created_at.isoformat(),
                        }
                        for o in overrides_of(session, ref)
                    ),
                    findings_log=tuple(f.as_dict() for f in findings_of(session, name, v.version)),
                    conditions=tuple(
                        ConditionState.of(c).as_dict() for c in conditions_of(session, ref)
                    ),
                    gates=gates,
                    fairness=fairness,
                    lineage={
                        "digest": v.digest,
                        "mlflow_run_id": v.mlflow_run_id,
                        "artifact_uri": v.artifact_uri,
                        "flavor": v.flavor,
                        "data_fingerprint": v.data_fingerprint,
                        "data_source": v.data_source,
                        "data_rows": v.data_rows,
                        "code_commit": v.code_commit,
                        "code_dirty": v.code_dirty,
                        "code_diff_sha256": v.code_diff_sha256,
                        "trainer_sha256": v.trainer_sha256,
                        "spec_sha256": v.spec_sha256,
                        "packages": dict(v.packages),
                    },
                    trained_by=v.trained_by,
                    created_at=v.created_at,
                )
            )
        deployments = tuple(
            {
                "environment": d.environment,
                "version": d.version,
                "action": d.action,
                "previous_version": d.previous_version,
                "actor": d.actor,
                "reason": d.reason,
                "at": d.created_at.isoformat(),
            }
            for d in history(session, name)
        )
        return ModelView(
            name=model.name,
            risk_tier=model.risk_tier,
            owner=model.owner,
            intended_use=model.intended_use,
            serving=serving,
            versions=tuple(versions),
            deployments=deployments,
            at=at,
        )


def list_models(ctx: Context) -> list[ModelView]:
    """Every model in the inventory, with its versions."""
    with ctx.store.reading() as session:
        names = list(session.execute(select(ModelRecord.name).order_by(ModelRecord.name)).scalars())
    return [describe_model(ctx, name) for name in names]
