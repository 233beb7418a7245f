"""The EU AI Act's requirements for high-risk systems (Arts. 9–15) crossed with the platform's
own records: for each article, what riskops keeps that answers it, cited by table and id, and
the command that shows or checks it. The articles are paraphrased, never quoted.

Also the derogations a credit institution may use (:func:`derogations`): Art. 17(4) deems its
quality management system in place through its internal governance under Union financial
services law, except the risk management system, post-market monitoring and serious-incident
reporting (Art. 17(1)(g)–(i)); Art. 72(4) lets it fold post-market monitoring into the systems
it already runs under that law. They are noted only for a credit model whose spec says the
provider is a credit institution (``credit_institution: true``).

Example::

    [row.article for row in crosswalk(records)]  # ['Art. 9', 'Art. 10', ..., 'Art. 15']
"""

from __future__ import annotations

from dataclasses import dataclass

from riskops.documents.records import DocumentRecords, cite


@dataclass(frozen=True)
class Requirement:
    """One article: what it asks, what the records hold, where, and how to check it."""

    article: str
    title: str
    asks: str
    answer: str
    records: tuple[str, ...]
    commands: tuple[str, ...]


def _only(*values: str) -> tuple[str, ...]:
    return tuple(v for v in values if v)


def _decision_log(r: DocumentRecords) -> str:
    total = sum(r.decision_counts.values())
    if not total:
        return (
            "No decision of this version is logged yet; once it serves, each decision is "
            "logged with its time, model version and digest, score, outcome and reasons, the "
            "inputs encrypted under the subject's key, in batches whose Merkle roots are sealed "
            "in the audit chain."
        )
    by_outcome = ", ".join(f"{n} {d}" for d, n in sorted(r.decision_counts.items()))
    return (
        f"{total} decisions of this version are logged ({by_outcome}), each with its time, "
        f"model version and digest, score, outcome and reasons, in {r.sealed_batches} sealed "
        "batch(es) whose Merkle roots are in the audit chain; any one can be recomputed with "
        "the exact version that made it."
    )


def _oversight(r: DocumentRecords) -> str:
    spec = r.spec
    if spec is None:
        return "The recorded spec did not parse, so the policy's review band is not known."
    review = spec.outcomes.review
    cutoffs = spec.policy.score_cutoffs()
    band = (
        f"scores from {cutoffs[0]:g} to below {cutoffs[1]:g} go to a person ('{review}')"
        if cutoffs is not None and cutoffs[0] < cutoffs[1]
        else f"the policy's rules send cases to a person ('{review}')"
    )
    total = sum(r.decision_counts.values())
    volume = (
        f"; in production {r.decision_counts.get(review, 0)} of {total} logged decisions "
        f"({r.decision_counts.get(review, 0) / total:.1%}) went to review"
        if total
        else ""
    )
    expected = next(
        (
            g.evidence.get("review_per_1k")
            for g in r.gates
            if g.gate == "decisions.review_share"
            and isinstance(g.evidence.get("review_per_1k"), int | float)
        ),
        None,
    )
    at_validation = (
        f"; on the held-out rows about {float(expected):.0f} per 1,000 cases"
        if expected is not None
        else ""
    )
    return (
        f"The refer band: {band}{at_validation}{volume}. Failed gates can be overridden only by a "
        "risk officer with a written justification; production returns to the previous "
        "approved version in one command."
    )


def _security(r: DocumentRecords) -> str:
    k = r.checkpoints.newest
    latest = (
        f"the latest signed checkpoint covering this version is audit_checkpoints #{k.id} "
        f"(size {k.size}, root {k.root[:16]}, signed by key "
        f"{', '.join(k.key_ids) or 'not recorded'})"
        if k is not None
        else "no signed checkpoint covers this version's records yet"
    )
    return (
        f"The artifact is served only while its sha256 digest is {r.version.digest[:23]}…, "
        f"the one approved; every state change is a hash-chained audit event; {latest}. "
        "Accuracy and robustness are the performance, calibration and robustness gates."
    )


def crosswalk(r: DocumentRecords) -> tuple[Requirement, ...]:
    """Arts. 9–15 of Regulation (EU) 2024/1689, each with the records of ``r`` that answer it."""
    name = str(r.ref)
    gates = cite("gate_results", [g.id for g in r.gates])
    fairness = cite("gate_results", [g.id for g in r.gates_of("fairness")])
    quality = cite("gate_results", [g.id for g in r.gates_of("data_quality")])
    accuracy = cite(
        "gate_results",
        [
            g.id
            for g in r.gates
            if g.family in ("performance", "calibration", "robustness", "detection", "champion")
        ],
    )
    runs = cite("validation_runs", [run.id for run in r.runs])
    events = cite("audit_events", [e.seq for e in r.events])
    approvals = cite("approvals", [a.id for a in r.approvals])
    version = f"model_versions #{r.version.id}"
    head = f"audit_head (event #{r.audit_head[0]})" if r.audit_head else ""
    decisions = f"decisions of {name}" if r.decision_counts else ""
    return (
        Requirement(
            "Art. 9",
            "Risk management system",
            "identify and evaluate risks over the lifecycle; test against metrics and thresholds "
            "set beforehand",
            "Every version is validated against the thresholds of its recorded spec before it "
            "can be signed off; monitoring rules watch it once deployed. The organisational risk "
            "process is the provider's.",
            _only(runs, gates, version),
            (f"riskops validate {name} --as <validator>", f"riskops monitor run {r.ref.name}"),
        ),
        Requirement(
            "Art. 10",
            "Data and data governance",
            "relevant, representative training data of known provenance, examined for bias",
            "The training data's fingerprint, source file and rows are recorded with the "
            "version; the data-quality gate checks it and the fairness gate examines outcomes "
            "by protected group.",
            _only(version, quality, fairness),
            (f"riskops show {r.ref.name}",),
        ),
        Requirement(
            "Art. 11",
            "Technical documentation",
            "documentation following Annex IV, kept up to date",
            "This pack, generated from the records each time; the changes since the previous "
            "version are listed below.",
            _only(version),
            (f"riskops docs {name} --out <folder>",),
        ),
        Requirement(
            "Art. 12",
            "Record-keeping",
            "automatic logging of events over the system's lifetime, enough to trace how it worked",
            _decision_log(r) + " Every change to the version is an audit event.",
            _only(decisions, events, head),
            ("riskops decisions replay <decision id> --as <auditor>", "riskops audit verify"),
        ),
        Requirement(
            "Art. 13",
            "Transparency and instructions for use",
            "instructions for the deployer: purpose, accuracy and its limits, input data, "
            "oversight",
            "The model card: intended and out-of-scope use, features with allowed values and "
            "reason texts, performance with intervals, limitations, human oversight.",
            _only(version, gates),
            (f"riskops docs {name} --out <folder>",),
        ),
        Requirement(
            "Art. 14",
            "Human oversight",
            "people can understand, monitor, override and stop the system",
            _oversight(r),
            _only(version, approvals, decisions),
            (f"riskops rollback {r.ref.name} --env production --as <operator>",),
        ),
        Requirement(
            "Art. 15",
            "Accuracy, robustness and cybersecurity",
            "declared accuracy, resilience to errors and to manipulation",
            _security(r),
            _only(accuracy, version, r.checkpoints.cited(), head),
            ("riskops audit verify", f"riskops reproduce {name} --as <validator>"),
        ),
    )


def derogations(r: DocumentRecords) -> tuple[str, ...]:
    """What a credit institution providing a credit model may rely on; () for other models.
    How it is known: the spec's ``credit_institution`` flag."""
    spec = r.spec
    if spec is None or spec.kind != "credit":
        return ()
    if not spec.credit_institution:
        return (
            "The spec does not say the provider is a credit institution (credit_institution is "
            "false), so the derogations of Arts. 17(4) and 72(4) for financial institutions "
            "are not noted. Set credit_institution: true in the spec if the provider is one.",
        )
    return (
        "Art. 17(4): the spec records the provider as a credit institution "
        "(credit_institution: true). Its quality management system is deemed in place through "
        "its internal governance arrangements under Union financial services law (for a credit "
        "institution, the CRD), except the risk management system, the post-market monitoring "
        "system and serious-incident reporting (Art. 17(1)(g)–(i)), which it must still have.",
        "Art. 72(4): the provider may integrate the post-market monitoring system and plan into "
        "the monitoring it already runs under that law; riskops' monitoring runs and alerts "
        "(point 9) are meant to sit inside it.",
    )
