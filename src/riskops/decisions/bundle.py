"""The examination bundle (``riskops audit export --bundle DIR``): everything an examiner needs
to check the audit log offline, and nothing personal.

==========================  ===================================================================
file                        content
==========================  ===================================================================
``entries.jsonl``           the audit export (header line, then every event verbatim)
``checkpoints.jsonl``       every signed checkpoint read back from the readable anchors, with
                            the anchors that hold it, plus those only this store recorded
``decision-leaves.jsonl``   per sealed batch: id, sealing event, tree, and its decisions'
                            digests in order (no feature ciphertext, no subject pseudonym)
``verifier-keys.txt``       the verifier keys this workspace pins; an examiner should compare
                            them with keys obtained another way
``VERIFY.md``               how to check it, pointing to ``docs/audit-chain.md``
==========================  ===================================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from riskops.audit.export import export_events
from riskops.audit.log import verifiers_of
from riskops.audit.verification import read_anchored
from riskops.context import Context
from riskops.decisions.records import LEAF_FIELDS, OPTIONAL_LEAF_FIELDS, SEAL_ACTION, decision_leaf
from riskops.errors import ConflictError
from riskops.store.tables import AuditCheckpointRecord, AuditEventRecord, DecisionRecord, table_of

BUNDLE_FORMAT = "riskops.audit-bundle@1"

VERIFY_TEXT = """\
# Verifying this bundle

Format {format}, exported {exported_at} from the log `{origin}`.

1. `entries.jsonl`: recompute every event's hash and chain link (docs/audit-chain.md, "The
   hash"), and the RFC 6962 Merkle tree over the events' record texts ("The Merkle log").
2. `checkpoints.jsonl`: check each note's Ed25519 signature with a verifier key you obtained
   independently of this bundle (`verifier-keys.txt` lists the ones this workspace pins), then
   check that the root of the first `size` leaves equals the checkpoint's root.
3. `decision-leaves.jsonl`: for each batch, the RFC 6962 root over the listed digests must equal
   the `merkle_root` in the payload of its `decisions.batch_sealed` event.
4. A single decision: ask for its receipt (`riskops decisions prove ID`) and check it as
   docs/audit-chain.md, "Decision receipts", says.
"""


def export_bundle(ctx: Context, directory: Path) -> dict[str, Any]:
    """Write the bundle into ``directory`` (created; must be empty). Returns a summary."""
    if directory.exists() and any(directory.iterdir()):
        raise ConflictError(
            f"{directory} is not empty.", hint="Export the bundle into a new folder."
        )
    directory.mkdir(parents=True, exist_ok=True)
    settings = ctx.settings.audit
    with (directory / "entries.jsonl").open("w", encoding="utf-8") as handle:
        header = export_events(ctx.store, handle, at=ctx.clock())
    checkpoints: list[dict[str, Any]] = []
    if settings is not None and settings.anchored:
        anchored, _problems, errors = read_anchored(settings, verifiers_of(settings))
        checkpoints += [{"source": "anchors", **c.as_dict(), "note": c.note} for c in anchored]
        checkpoints += [
            {"source": "anchor-error", "anchor": a, "error": e} for a, e in errors.items()
        ]
    with ctx.store.reading() as session:
        for record in session.scalars(
            select(AuditCheckpointRecord).order_by(AuditCheckpointRecord.size)
        ):
            checkpoints.append(
                {
                    "source": "store",
                    "size": record.size,
                    "root": record.root,
                    "note": record.note,
                    "anchors": record.anchored,
                }
            )
        batches = _decision_leaves(session)
    _write_lines(directory / "checkpoints.jsonl", checkpoints)
    _write_lines(directory / "decision-leaves.jsonl", batches)
    keys = settings.verifier_keys if settings is not None else ()
    (directory / "verifier-keys.txt").write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
    origin = settings.origin if settings is not None and settings.origin else "(not configured)"
    (directory / "VERIFY.md").write_text(
        VERIFY_TEXT.format(format=BUNDLE_FORMAT, exported_at=header["exported_at"], origin=origin),
        encoding="utf-8",
    )
    return {
        "format": BUNDLE_FORMAT,
        "directory": str(directory),
        "events": header["events"],
        "checkpoints": len(checkpoints),
        "batches": len(batches),
    }


def _decision_leaves(session: Any) -> list[dict[str, Any]]:
    sealed = {
        json.loads(text)["batch_id"]: (seq, json.loads(text))
        for seq, text in session.execute(
            select(AuditEventRecord.seq, AuditEventRecord.payload).where(
                AuditEventRecord.action == SEAL_ACTION
            )
        )
    }
    table = table_of(DecisionRecord)
    names = (*LEAF_FIELDS, *OPTIONAL_LEAF_FIELDS, "batch_id")
    rows = session.execute(
        select(*(table.c[n] for n in names))
        .where(table.c.batch_id.is_not(None))
        .order_by(table.c.batch_id, table.c.id)
        .execution_options(yield_per=5000)
    ).mappings()
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        batch_id = row["batch_id"]
        if batch_id not in out:
            seq, payload = sealed.get(batch_id, (None, {}))
            out[batch_id] = {
                "batch_id": batch_id,
                "audit_seq": seq,
                "tree": payload.get("tree"),
                "merkle_root": payload.get("merkle_root"),
                "digests": [],
            }
        out[batch_id]["digests"].append(decision_leaf(row))
    return [out[k] for k in sorted(out)]


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
