"""Labels: the observed outcomes of logged decisions, joined by decision id, kept as personal
data, and added to the performance cells that name no one.

A label file (CSV or Parquet) has one row per outcome: the decision id the scoring API
returned, the label in the spec's own values (``data.label.positive`` / ``negative`` of the
version that decided) and when the outcome was observed. :func:`ingest_labels` takes all of it
or none of it: every row is checked first (unknown or empty decision id, a decision of another
model, a label that is not one of the spec's two values, a time that is not a time or is before
the decision or in the future, a subject who was erased) and any problem refuses the whole file, each problem
naming its row and the fix. A decision id that appears again — later in the file or in a later
file — is a *relabel*: the last one wins, and the label row counts its relabels.

**Privacy.** A label is personal data about the decision's subject, so it follows the
decisions' rule: the outcome and its time are sealed under the subject's key
(:func:`riskops.privacy.keys.seal_features`, AES-256-GCM bound to the pseudonym), and erasure
(deleting the key) makes them unreadable. Sealing rather than deleting at erasure means
nothing in the erasure path has to know about labels, and backups taken before the erasure
are shredded too. A subject already erased gets no new label (its row is refused).

**What stays.** Each label adds its decision to one performance cell (model, version,
environment, cohort month, whole months from decision to observation, the decision's outcome,
score bin of 100 on [0, 1]: ``n``, ``positives``, ``Σp``, ``Σp²``); a relabel moves it from
its old cell to its new one. The label of a shadow (not served) or unscored (fallback)
decision is stored but added to no cell. Cells are sums that name no one and stay after erasure. A cell
holding one decision can still be tied to it by someone who reads the decision log's clear
columns (cohort month, score, outcome); read access to the cells should be granted like read
access to the decision log.

The ingestion is recorded in the audit chain as ``labels.ingested`` with its counts.

Example::

    result = ingest_labels(ctx, Path("outcomes.csv"), model="credit-scoring", actor="oscar")
    result.new, result.relabelled, result.positives
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from riskops.audit.trail import record
from riskops.config import Role
from riskops.context import Context
from riskops.errors import NotFoundError, Problem, ProblemsError
from riskops.governance.roles import require_actor, require_role
from riskops.monitoring.performance import score_bin
from riskops.monitoring.sources import read_frame, require_columns
from riskops.privacy.fingerprint import bind_secrets
from riskops.privacy.keys import SubjectKeys, open_features, seal_features
from riskops.spec import Label, parse_spec
from riskops.store.tables import (
    DecisionRecord,
    LabelRecord,
    ModelVersionRecord,
    PerformanceCellRecord,
    table_of,
)

INGEST_ACTION = "labels.ingested"
INGEST_ROLES = (Role.OPERATOR, Role.VALIDATOR, Role.RISK_OFFICER)
SHOWN_PROBLEMS = 20
_CHUNK = 500

CellKey = tuple[int, str, str, int, str, int]  # version, environment, cohort, months, outcome, bin


def cohort_of(decided_at: datetime) -> str:
    """The decision's cohort: its UTC month as ``YYYY-MM``."""
    return decided_at.astimezone(UTC).strftime("%Y-%m")


def months_between(decided_at: datetime, observed_at: datetime) -> int:
    """Whole calendar months from decision to observation (a month is complete on the same
    day-and-time of a later month): 2026-01-31 → 2026-02-28 is 0, → 2026-03-31 is 2."""
    start, end = decided_at.astimezone(UTC), observed_at.astimezone(UTC)
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if (end.day, end.time()) < (start.day, start.time()):
        months -= 1
    return max(months, 0)


@dataclass(frozen=True)
class Ingested:
    """What one ingestion stored."""

    kind: ClassVar[str] = "riskops.labels/ingested@1"

    model_name: str
    file: str
    file_sha256: str
    rows: int
    new: int
    relabelled: int
    positives: int
    negatives: int
    # Labels stored but added to no performance cell: their decision was answered without a
    # score (a fallback) or was not served (a shadow), so it says nothing of served performance.
    unbinned: int
    audit_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model_name,
            "file": self.file,
            "file_sha256": self.file_sha256,
            "rows": self.rows,
            "new": self.new,
            "relabelled": self.relabelled,
            "positives": self.positives,
            "negatives": self.negatives,
            "unbinned": self.unbinned,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True)
class StoredLabel:
    """A label read back: ``positive`` and ``observed_at`` are None once the subject was
    erased (``erased`` True)."""

    decision_id: str
    model_name: str
    version: int
    positive: bool | None
    observed_at: datetime | None
    relabels: int
    erased: bool


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _text(value: Any) -> str:
    """A cell as text: an integral float (Parquet) as an integer, None/NaN as ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time (UTC when no zone is given), a datetime, or None if neither."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _label_values(session: Session, model: str) -> dict[int, Label]:
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
    return {version: parse_spec(text).spec.data.label for version, text in rows}


def _fetch(session: Session, record_type: Any, column: Any, ids: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in _chunks(ids):
        for row in session.scalars(select(record_type).where(column.in_(chunk))):
            found[getattr(row, column.key)] = row
    return found


def _decisions(session: Session, ids: Sequence[str]) -> dict[str, Any]:
    """The columns of the decisions a label needs, as rows (no ORM objects: a file can name
    hundreds of thousands of decisions, and none of them is changed)."""
    table = table_of(DecisionRecord)
    wanted = [
        table.c[name]
        for name in (
            "id",
            "model_name",
            "version",
            "subject",
            "score",
            "decision",
            "decided_at",
            "served",
        )
    ]
    if "environment" in table.c:
        wanted.append(table.c["environment"])
    found: dict[str, Any] = {}
    for chunk in _chunks(ids):
        for row in session.execute(select(*wanted).where(table.c.id.in_(chunk))):
            found[row.id] = row
    return found


@dataclass
class _Row:
    line: int
    positive: bool
    observed_at: datetime


def _check_rows(
    ids: Iterable[Any],
    labels: Iterable[Any],
    observed: Iterable[Any],
    *,
    model: str,
    decisions: dict[str, Any],
    label_values: dict[int, Label],
    keys: dict[str, bytes],
    columns: tuple[str, str, str],
    now: datetime,
) -> tuple[dict[str, _Row], int, list[Problem]]:
    """The rows that will be stored (last one per decision id), the relabels within the file,
    and every problem found."""
    id_column, label_column, observed_column = columns
    accepted: dict[str, _Row] = {}
    repeats = 0
    problems: list[Problem] = []
    # Line numbers as a spreadsheet shows them: the header is line 1.
    for line, (raw_id, raw_label, raw_time) in enumerate(
        zip(ids, labels, observed, strict=False), start=2
    ):
        where = f"line {line}"
        decision_id = _text(raw_id)
        if not decision_id:
            problems.append(
                Problem(
                    where,
                    f"{id_column} is empty; fill in the decision id or drop the row",
                    code="missing",
                )
            )
            continue
        decision = decisions.get(decision_id)
        if decision is None:
            problems.append(
                Problem(
                    where,
                    f"no decision {decision_id!r} in the store; use the decision_id the scoring "
                    "API returned (riskops decisions show ID finds it)",
                    code="unknown_field",
                )
            )
            continue
        if decision.model_name != model:
            problems.append(
                Problem(
                    where,
                    f"decision {decision_id} was made by {decision.model_name!r}, not {model!r}; "
                    f"ingest it with --model {decision.model_name}",
                )
            )
            continue
        spec_label = label_values.get(decision.version)
        text = _text(raw_label)
        if spec_label is None:
            problems.append(Problem(where, f"{model}@{decision.version} is not in the inventory"))
            continue
        positive, negative = str(spec_label.positive), str(spec_label.negative)
        if text not in (positive, negative):
            problems.append(
                Problem(
                    where,
                    f"{label_column} {text!r} is neither {positive!r} (the event) nor "
                    f"{negative!r}, the values {model}@{decision.version}'s spec declares; "
                    "recode it to one of them",
                    code="unknown_category",
                )
            )
            continue
        moment = _time(raw_time)
        if moment is None:
            problems.append(
                Problem(
                    where,
                    f"{observed_column} {_text(raw_time)!r} is not a time; use ISO 8601, e.g. "
                    "2026-11-29 or 2026-11-29T14:03:07Z (UTC when no zone is given)",
                    code="wrong_type",
                )
            )
            continue
        if moment < decision.decided_at:
            problems.append(
                Problem(
                    where,
                    f"{observed_column} {moment.isoformat()} is before the decision was made "
                    f"({decision.decided_at.isoformat()}); check the date",
                    code="out_of_range",
                )
            )
            continue
        if moment > now:
            problems.append(
                Problem(
                    where,
                    f"{observed_column} {moment.isoformat()} is in the future (now "
                    f"{now.isoformat()}); check the date and its time zone",
                    code="out_of_range",
                )
            )
            continue
        if decision.subject not in keys:
            problems.append(
                Problem(
                    where,
                    f"the subject of decision {decision_id} was erased, so no outcome about "
                    "them may be stored; drop the row",
                )
            )
            continue
        if decision_id in accepted:
            repeats += 1
        accepted[decision_id] = _Row(line, text == positive, moment)
    return accepted, repeats, problems


def _cell_key(decision: Any, observed_at: datetime) -> CellKey | None:
    if decision.score is None or not decision.served:
        return None  # a fallback without a score, or a shadow decision: not served performance
    return (
        decision.version,
        str(getattr(decision, "environment", None) or ""),
        cohort_of(decision.decided_at),
        months_between(decision.decided_at, observed_at),
        decision.decision,
        score_bin(decision.score),
    )


def _add(
    session: Session,
    cells: dict[CellKey, PerformanceCellRecord],
    model: str,
    key: CellKey,
    *,
    score: float,
    positive: bool,
    sign: int,
) -> None:
    cell = cells.get(key)
    if cell is None:
        version, environment, cohort, months, outcome, bin_ = key
        cell = PerformanceCellRecord(
            model_name=model,
            version=version,
            environment=environment,
            cohort=cohort,
            months_since=months,
            outcome=outcome,
            score_bin=bin_,
            n=0,
            positives=0,
            sum_p=0.0,
            sum_p2=0.0,
        )
        session.add(cell)
        cells[key] = cell
    cell.n += sign
    cell.positives += sign * int(positive)
    cell.sum_p += sign * score
    cell.sum_p2 += sign * score * score


def ingest_labels(
    ctx: Context,
    path: Path,
    *,
    model: str,
    actor: str | None,
    id_column: str = "decision_id",
    label_column: str = "label",
    observed_column: str = "observed_at",
) -> Ingested:
    """Store the outcomes in ``path`` for decisions of ``model``: all rows or none (module
    docstring). ProblemsError lists each bad row with its fix; nothing is stored then."""
    who = require_actor(actor)
    role = require_role(ctx.settings, who, *INGEST_ROLES, doing="ingest labels")
    frame = read_frame(path)
    columns = (id_column, label_column, observed_column)
    require_columns(
        frame,
        [
            (id_column, "name it with --id-column"),
            (label_column, "name it with --label-column"),
            (observed_column, "name it with --observed-column"),
        ],
        path=path,
    )
    if frame.empty:
        raise ProblemsError(
            f"{path} has a header but no rows; nothing was stored.",
            hint="Export the outcomes again with one row per decision.",
        )
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    secrets = bind_secrets(ctx.settings, ctx.store)
    subject_keys = SubjectKeys(ctx.store, secrets, ctx.clock)
    now = ctx.clock()
    with ctx.store.transaction() as session:
        label_values = _label_values(session, model)
        ids = sorted({_text(v) for v in frame[id_column]} - {""})
        decisions = _decisions(session, ids)
        keys = subject_keys.keys_for(session, {d.subject for d in decisions.values()}, create=False)
        accepted, repeats, problems = _check_rows(
            frame[id_column],
            frame[label_column],
            frame[observed_column],
            model=model,
            decisions=decisions,
            label_values=label_values,
            keys=keys,
            columns=columns,
            now=now,
        )
        if problems:
            shown = problems[:SHOWN_PROBLEMS]
            if len(problems) > SHOWN_PROBLEMS:
                shown.append(Problem("…", f"and {len(problems) - SHOWN_PROBLEMS} more"))
            raise ProblemsError(
                f"{len(problems)} of {len(frame)} row(s) of {path} cannot be ingested; "
                "nothing was stored.",
                problems=shown,
                hint="Fix or drop those rows and ingest the file again.",
            )
        existing: dict[str, LabelRecord] = _fetch(
            session, LabelRecord, LabelRecord.decision_id, sorted(accepted)
        )
        cells = {
            (c.version, c.environment, c.cohort, c.months_since, c.outcome, c.score_bin): c
            for c in session.scalars(
                select(PerformanceCellRecord).where(PerformanceCellRecord.model_name == model)
            )
        }
        relabelled = repeats
        unbinned = 0
        new_rows: list[dict[str, Any]] = []
        for decision_id, row in accepted.items():
            decision = decisions[decision_id]
            key = keys[decision.subject]
            old = existing.get(decision_id)
            if old is not None:
                relabelled += 1
                try:
                    previous = open_features(
                        key, decision.subject, old.label_nonce, old.label_ciphertext
                    )
                except InvalidTag:
                    # Sealed under a key erased since: the old outcome cannot be taken back out.
                    raise ProblemsError(
                        f"line {row.line}: the earlier label of decision {decision_id} belongs "
                        "to an erased subject and cannot be replaced; nothing was stored.",
                        hint="Drop the row: the subject was erased after that label was stored.",
                    ) from None
                old_key = _cell_key(decision, datetime.fromisoformat(previous["observed_at"]))
                if old_key is not None and decision.score is not None:
                    _add(
                        session,
                        cells,
                        model,
                        old_key,
                        score=decision.score,
                        positive=bool(previous["positive"]),
                        sign=-1,
                    )
            nonce, sealed = seal_features(
                key,
                decision.subject,
                {"positive": row.positive, "observed_at": row.observed_at.isoformat()},
            )
            if old is None:
                new_rows.append(
                    {
                        "decision_id": decision_id,
                        "model_name": model,
                        "version": decision.version,
                        "subject": decision.subject,
                        "label_nonce": nonce,
                        "label_ciphertext": sealed,
                        "relabels": 0,
                        "ingested_at": now,
                    }
                )
            else:
                old.label_nonce, old.label_ciphertext = nonce, sealed
                old.relabels += 1
                old.ingested_at = now
            new_key = _cell_key(decision, row.observed_at)
            if new_key is None or decision.score is None:
                unbinned += 1
            else:
                _add(
                    session,
                    cells,
                    model,
                    new_key,
                    score=decision.score,
                    positive=row.positive,
                    sign=1,
                )
        if new_rows:
            # One multi-row INSERT through Core, as the decision log stores decisions.
            session.execute(insert(table_of(LabelRecord)), new_rows)
        positives = sum(r.positive for r in accepted.values())
        event = record(
            session,
            actor=who,
            role=role.value,
            action=INGEST_ACTION,
            object_type="model",
            object_id=model,
            payload={
                "file": path.name,
                "file_sha256": digest,
                "rows": len(frame),
                "labels": len(accepted),
                "new": len(accepted) - len(existing),
                "relabelled": relabelled,
                "positives": positives,
                "negatives": len(accepted) - positives,
                "unbinned": unbinned,
            },
            at=now,
        )
    return Ingested(
        model_name=model,
        file=path.name,
        file_sha256=digest,
        rows=len(frame),
        new=len(accepted) - len(existing),
        relabelled=relabelled,
        positives=positives,
        negatives=len(accepted) - positives,
        unbinned=unbinned,
        audit_seq=event.seq,
    )


def stored_label(ctx: Context, decision_id: str) -> StoredLabel | None:
    """The label of a decision, opened while its subject's key exists; None if it has none."""
    keys = SubjectKeys(ctx.store, bind_secrets(ctx.settings, ctx.store), ctx.clock)
    with ctx.store.reading() as session:
        row = session.get(LabelRecord, decision_id)
        if row is None:
            return None
        key = keys.keys_for(session, [row.subject], create=False).get(row.subject)
    opened = None
    if key is not None:
        try:
            opened = open_features(key, row.subject, row.label_nonce, row.label_ciphertext)
        except InvalidTag:
            opened = None  # sealed under a key that was erased since
    return StoredLabel(
        decision_id=row.decision_id,
        model_name=row.model_name,
        version=row.version,
        positive=None if opened is None else bool(opened["positive"]),
        observed_at=None if opened is None else datetime.fromisoformat(opened["observed_at"]),
        relabels=row.relabels,
        erased=opened is None,
    )
