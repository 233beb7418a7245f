"""Training–serving skew: do the features a version was served equal the features the offline
pipeline computes for the same subjects?

A check, in order::

    source    = an offline file (CSV or Parquet) with one row per subject, keyed by the
                spec's subject key, with a column per spec feature
    matched   = logged decisions of the model whose subject pseudonym equals
                pseudonym(workspace secret, source key)  — keys are never stored
    sample    = up to N of them, drawn with a fixed seed (reproducible)
    online    = the sampled decisions' features, decrypted with their subjects' keys
                (only those: an erased subject is skipped and counted)
    offline   = the source row's value of each feature
    compare   numeric: equal when |a − b| ≤ 1e-9 · max(1, |a|, |b|); categorical: equal text;
              missing on one side only is a mismatch
    distance  numeric: Wasserstein-1 between the online and offline values divided by the
              offline standard deviation (scipy.stats.wasserstein_distance; 0 when equal);
              categorical: total variation ½ Σ_c |f_online(c) − f_offline(c)|

A feature is flagged when its mismatch rate exceeds ``flag_rate`` (default 1%). A serving-side
unit change — an amount sent in cents — mismatches on every row of that feature and no other.
The source must hold the values as they were at decision time; a source refreshed since then
shows legitimate changes as skew (a point-in-time source avoids that).

The check decrypts personal data, so only an auditor, validator, risk officer or operator may
run it, and it is recorded in the audit chain as ``skew.checked`` with its counts and the
flagged features (no value).

Example::

    report = check_skew(ctx, "credit-scoring", Path("offline.parquet"),
                        subject_key="customer_id", sample=500, actor="victor")
    [f.name for f in report.features if f.flagged]   # ['credit_amount']
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from cryptography.exceptions import InvalidTag
from scipy.stats import wasserstein_distance
from sqlalchemy import select

from riskops.audit.trail import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import InputError, NotFoundError, Problem, ProblemsError
from riskops.governance.roles import require_actor, require_role
from riskops.monitoring.sources import read_frame, require_columns
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys, open_features
from riskops.privacy.pseudonyms import pseudonym
from riskops.spec import Feature, parse_spec
from riskops.store.tables import DecisionRecord, ModelVersionRecord

SKEW_ACTION = "skew.checked"
SKEW_ROLES = (Role.AUDITOR, Role.VALIDATOR, Role.RISK_OFFICER, Role.OPERATOR)
RELATIVE_TOLERANCE = 1e-9
_CHUNK = 500


@dataclass(frozen=True)
class FeatureSkew:
    """One feature's comparison over the sampled decisions."""

    name: str
    type: str
    compared: int
    mismatches: int
    distance: float | None
    distance_kind: str
    flagged: bool

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.compared if self.compared else 0.0


@dataclass(frozen=True)
class SkewReport:
    """The result of :func:`check_skew`."""

    kind: ClassVar[str] = "riskops.monitoring/skew@1"

    model_name: str
    source: str
    source_sha256: str
    source_subjects: int
    matched: int
    sampled: int
    erased: int
    flag_rate: float
    features: tuple[FeatureSkew, ...]
    audit_seq: int

    @property
    def flagged(self) -> list[str]:
        return [f.name for f in self.features if f.flagged]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model_name,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "source_subjects": self.source_subjects,
            "matched_decisions": self.matched,
            "sampled": self.sampled,
            "erased_skipped": self.erased,
            "flag_rate": self.flag_rate,
            "flagged": self.flagged,
            "features": [
                {
                    "name": f.name,
                    "type": f.type,
                    "compared": f.compared,
                    "mismatches": f.mismatches,
                    "mismatch_rate": f.mismatch_rate,
                    "distance": f.distance,
                    "distance_kind": f.distance_kind,
                    "flagged": f.flagged,
                }
                for f in self.features
            ],
            "audit_seq": self.audit_seq,
        }


def _number(value: Any) -> float | None:
    """A numeric cell as a float; None when missing; NaN when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return None if math.isnan(number) else number


def _category(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def _equal(feature: Feature, online: Any, offline: Any) -> bool:
    if feature.type == "categorical":
        return _category(online) == _category(offline)
    a, b = _number(online), _number(offline)
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RELATIVE_TOLERANCE * max(1.0, abs(a), abs(b))


def _distance(feature: Feature, online: Sequence[Any], offline: Sequence[Any]) -> float | None:
    if feature.type == "categorical":
        left, right = Counter(map(_category, online)), Counter(map(_category, offline))
        n_left, n_right = sum(left.values()), sum(right.values())
        if not n_left or not n_right:
            return None
        return 0.5 * sum(abs(left[c] / n_left - right[c] / n_right) for c in {*left, *right})
    a = np.array([v for v in map(_number, online) if v is not None and math.isfinite(v)])
    b = np.array([v for v in map(_number, offline) if v is not None and math.isfinite(v)])
    if not a.size or not b.size:
        return None
    distance = float(wasserstein_distance(a, b))
    scale = float(b.std())
    return distance / scale if scale > 0 else distance


def _specs(ctx: Context, model: str) -> dict[int, tuple[Feature, ...]]:
    with ctx.store.reading() as session:
        rows = session.execute(
            select(ModelVersionRecord.version, ModelVersionRecord.spec_yaml).where(
                ModelVersionRecord.model_name == model
            )
        ).all()
    if not rows:
        raise NotFoundError(
            f"No model {model!r} in the inventory.",
            hint="List the models with: riskops models list",
        )
    return {version: parse_spec(text).spec.features for version, text in rows}


def check_skew(
    ctx: Context,
    model: str,
    source: Path,
    *,
    subject_key: str,
    actor: str | None,
    sample: int = 1000,
    seed: int = 0,
    flag_rate: float = 0.01,
) -> SkewReport:
    """Compare the served features of a sample of ``model``'s decisions with ``source``
    (module docstring)."""
    who = require_actor(actor)
    role = require_role(
        ctx.settings, who, *SKEW_ROLES, doing="check training–serving skew (it decrypts features)"
    )
    if sample < 1:
        raise InputError(f"--sample {sample} must be at least 1.", hint="E.g. --sample 1000.")
    if not 0.0 <= flag_rate < 1.0:
        raise InputError(
            f"The flag rate {flag_rate} must be in [0, 1).", hint="E.g. 0.01 flags above 1%."
        )
    specs = _specs(ctx, model)
    latest = specs[max(specs)]
    frame = read_frame(source)
    require_columns(
        frame,
        [
            (subject_key, "name it with --subject-key"),
            *((f.name, "rename it to the spec's feature name") for f in latest),
        ],
        path=source,
    )
    keys_text = [str(v).strip() for v in frame[subject_key]]
    repeated = sorted({k for k, count in Counter(keys_text).items() if count > 1})
    if repeated or "" in keys_text:
        problems = [
            Problem(f"{subject_key} {k!r}", "appears more than once") for k in repeated[:20]
        ]
        if "" in keys_text:
            problems.append(Problem(subject_key, "is empty on some rows", code="missing"))
        raise ProblemsError(
            f"{source} must have one row per subject with a {subject_key}.",
            problems=problems,
            hint="Keep each subject's row as of the decision time (one per subject), or split "
            "the source by date and check each part.",
        )
    secrets = bind_secrets(ctx.settings, ctx.store)
    row_of = {pseudonym(secrets, k): i for i, k in enumerate(keys_text)}
    subjects = sorted(row_of)
    matched: list[tuple[str, int, str, bytes | None, bytes | None]] = []
    with ctx.store.reading() as session:
        for start in range(0, len(subjects), _CHUNK):
            chunk = subjects[start : start + _CHUNK]
            matched.extend(
                (row[0], row[1], row[2], row[3], row[4])
                for row in session.execute(
                    select(
                        DecisionRecord.id,
                        DecisionRecord.version,
                        DecisionRecord.subject,
                        DecisionRecord.features_nonce,
                        DecisionRecord.features_ciphertext,
                    )
                    .where(DecisionRecord.model_name == model, DecisionRecord.subject.in_(chunk))
                    .order_by(DecisionRecord.id)
                )
            )
    if not matched:
        raise NotFoundError(
            f"No logged decision of {model!r} is about a subject in {source}.",
            hint=f"Check that {subject_key} holds the subject ids the scoring requests sent, "
            "and that this is the workspace (secret) those decisions were logged in.",
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(matched), size=min(sample, len(matched)), replace=False))
    picked = [matched[i] for i in chosen]
    subject_keys = SubjectKeys(ctx.store, secrets, ctx.clock)
    with ctx.store.reading() as session:
        keys = subject_keys.keys_for(session, {p[2] for p in picked}, create=False)
    pairs: list[tuple[dict[str, Any], int, int]] = []  # online features, source row, version
    erased = 0
    for _, version, subject, nonce, sealed in picked:
        key = keys.get(subject)
        if key is None or nonce is None or sealed is None:
            erased += 1
            continue
        try:
            pairs.append((open_features(key, subject, nonce, sealed), row_of[subject], version))
        except InvalidTag:
            erased += 1  # sealed under a key erased since
    features = []
    for feature in latest:
        online, offline, mismatches = [], [], 0
        for values, row, version in pairs:
            if feature.name not in {f.name for f in specs[version]}:
                continue
            served = values.get(feature.name)
            computed = frame[feature.name].iat[row]
            online.append(served)
            offline.append(computed)
            mismatches += not _equal(feature, served, computed)
        compared = len(online)
        features.append(
            FeatureSkew(
                name=feature.name,
                type=feature.type,
                compared=compared,
                mismatches=mismatches,
                distance=_distance(feature, online, offline),
                distance_kind="total variation"
                if feature.type == "categorical"
                else "Wasserstein-1 / offline std",
                flagged=compared > 0 and mismatches / compared > flag_rate,
            )
        )
    digest = "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
    flagged = [f.name for f in features if f.flagged]
    with ctx.store.transaction() as session:
        event = record(
            session,
            actor=who,
            role=role.value,
            action=SKEW_ACTION,
            object_type="model",
            object_id=model,
            payload={
                "source": source.name,
                "source_sha256": digest,
                "matched": len(matched),
                "sampled": len(picked),
                "decrypted": len(pairs),
                "erased_skipped": erased,
                "flagged": flagged,
            },
            at=ctx.clock(),
        )
    return SkewReport(
        model_name=model,
        source=source.name,
        source_sha256=digest,
        source_subjects=len(keys_text),
        matched=len(matched),
        sampled=len(picked),
        erased=erased,
        flag_rate=flag_rate,
        features=tuple(features),
        audit_seq=event.seq,
    )
