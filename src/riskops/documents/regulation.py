"""Where each obligation is answered: the EU AI Act Annex IV points (technical documentation,
Regulation (EU) 2024/1689, Art. 11) and the model-risk pillars of SR 26-2 / OCC Bulletin 2026-13
(which superseded SR 11-7 / OCC 2011-12 on 2026-04-17) and PRA SS1/23, each mapped to the
section of a generated document and to the stored records behind it.

The obligations are paraphrased with their point or article number, not quoted; the exact
wording is in the Official Journal. Points that only the provider can write (its quality
management and harmonised standards, point 7; the EU declaration of conformity, point 8; the
organisational part of the risk management system, point 5) are marked as the provider's, never
filled in.

Every document also states the model's regulatory position by its kind
(:func:`regulatory_position`): credit scoring of natural persons is high-risk under the EU AI
Act's Annex III point 5(b); fraud detection is excluded from that point by its own words, and
transaction-risk scoring for fraud with it. Model-risk guidance and GDPR Art. 22 apply to all.

Example::

    points = annex_iv(records)
    [p.number for p in points] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    regulatory_position("fraud").high_risk is False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from riskops.documents.records import DocumentRecords, cite

Status = Literal["records", "partly", "provider", "planned"]

STATUS_TEXT: dict[str, str] = {
    "records": "answered from records",
    "partly": "partly from records; the rest is the provider's",
    "provider": "the provider's to write",
    "planned": "not yet implemented in riskops",
}


@dataclass(frozen=True)
class Item:
    """One letter of an Annex IV point: what it asks, where the pack answers, from which records."""

    point: str
    asks: str
    answer: str
    where: str
    records: tuple[str, ...]
    status: Status

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


@dataclass(frozen=True)
class AnnexPoint:
    number: int
    title: str
    items: tuple[Item, ...]
    provider_note: str | None = None

    @property
    def providers_own(self) -> bool:
        return all(i.status == "provider" for i in self.items)


@dataclass(frozen=True)
class Pillar:
    """A model-risk pillar, where US and UK supervisory texts expect it, and what answers it."""

    pillar: str
    us: str
    uk: str
    answer: str
    records: tuple[str, ...]
    status: Status

    @property
    def status_text(self) -> str:
        return STATUS_TEXT[self.status]


ANNEX_III_5B = (
    "AI systems intended to be used to evaluate the creditworthiness of natural persons or "
    "establish their credit score, with the exception of AI systems used for the purpose of "
    "detecting financial fraud"
)
"""Annex III point 5(b) of Regulation (EU) 2024/1689, as published in the Official Journal."""

_MODEL_RISK = (
    "A model under model risk management all the same: SR 26-2 / OCC Bulletin 2026-13 "
    "(formerly SR 11-7 / OCC 2011-12) in the United States and PRA SS1/23 in the United "
    "Kingdom cover every model a bank uses, whatever its purpose: inventory and tiering, "
    "independent validation, ongoing monitoring and governance (mapped in the Annex IV pack)."
)


@dataclass(frozen=True)
class RegulatoryPosition:
    """Where a model of one kind stands under the EU AI Act, model-risk guidance and GDPR."""

    kind: str
    high_risk: bool | None
    eu_ai_act: str
    annex_iv: str
    model_risk: str
    gdpr: str
    basis: str = ANNEX_III_5B

    @property
    def summary(self) -> str:
        """One line for a document's header."""
        if self.high_risk is None:
            return "EU AI Act classification not stated: the model's kind is not recorded."
        return (
            "High-risk AI system under EU AI Act Annex III point 5(b) (credit scoring)."
            if self.high_risk
            else "Not high-risk under EU AI Act Annex III point 5(b): fraud detection is "
            "excluded from it. Model-risk guidance and GDPR Art. 22 still apply."
        )


def regulatory_position(kind: str | None) -> RegulatoryPosition:
    """The position of a model of ``kind`` (``credit``, ``fraud``, ``transaction_risk``; None
    when the recorded spec could not be read).

    It states the classification only for the purpose the kind names; a fraud model put to a
    credit purpose (refusing or pricing credit on its score) would be scoring creditworthiness,
    and the intended-use section is where the provider keeps the two apart.
    """
    gdpr = (
        "Art. 22: a decision based solely on automated processing that has legal or "
        "similarly significant effects on a person (declining credit; blocking a card or a "
        "payment) needs a lawful basis under Art. 22(2) and safeguards: human intervention, "
        "the person's right to express a view and to contest. The policy's review outcome, the "
        "reasons stated with every non-favourable outcome and recorded overrides answer them."
    )
    if kind == "credit":
        return RegulatoryPosition(
            kind="credit",
            high_risk=True,
            eu_ai_act=(
                "High-risk: credit scoring and creditworthiness assessment of natural persons "
                "fall under Annex III point 5(b) (Art. 6(2)); as profiling of natural persons "
                "the Art. 6(3) derogation does not apply. Arts. 8–17 bind the provider, Art. 26 "
                "the deployer."
            ),
            annex_iv=(
                "Required: Art. 11 technical documentation following Annex IV, kept ten years "
                "after the system is placed on the market (Art. 18)."
            ),
            model_risk=_MODEL_RISK,
            gdpr=gdpr,
        )
    if kind in ("fraud", "transaction_risk"):
        what = "fraud detection" if kind == "fraud" else "transaction-risk scoring for fraud"
        return RegulatoryPosition(
            kind=kind,
            high_risk=False,
            eu_ai_act=(
                f"Not high-risk under Annex III point 5(b): the point lists systems that "
                f'evaluate creditworthiness or establish a credit score "with the exception of '
                f'AI systems used for the purpose of detecting financial fraud", and {what} '
                f"is that purpose (Recital 58 gives the same reading). No other Annex III point "
                f"names it. The classification holds only while the score is not used to "
                f"assess creditworthiness."
            ),
            annex_iv=(
                "Not required: Annex IV documentation is an obligation of high-risk systems. "
                "This pack is generated for transparency and as the model's technical file "
                "under model-risk guidance, in the same layout."
            ),
            model_risk=_MODEL_RISK,
            gdpr=gdpr,
        )
    return RegulatoryPosition(
        kind=str(kind),
        high_risk=None,
        eu_ai_act=(
            "Not stated: the spec recorded with this version could not be read, so its kind "
            "(credit, fraud or transaction_risk) is unknown. Treat it as high-risk under Annex "
            "III point 5(b) until the kind is established."
        ),
        annex_iv="Required if the model scores the creditworthiness of natural persons.",
        model_risk=_MODEL_RISK,
        gdpr=gdpr,
    )


def _refs(r: DocumentRecords) -> dict[str, str]:
    """Citations of the record groups the mapping points at."""
    run_ids = [run.id for run in r.runs]
    return {
        "model": f"models {r.ref.name}",
        "version": f"model_versions #{r.version.id}",
        "versions": cite(
            f"model_versions of {r.ref.name}", [v.ref.version for v in r.model.versions], mark="v"
        ),
        "runs": cite("validation_runs", run_ids),
        "gates": cite("gate_results", [g.id for g in r.gates]),
        "fairness": cite("gate_results", [g.id for g in r.gates_of("fairness")]),
        "performance": cite(
            "gate_results",
            [g.id for g in r.gates if g.family in ("performance", "calibration", "champion")],
        ),
        "robustness": cite(
            "gate_results",
            [g.id for g in r.gates if g.family in ("robustness", "stability", "monotonicity")],
        ),
        "approvals": cite("approvals", [a.id for a in r.approvals]),
        "deployments": cite("deployments", [d.id for d in r.deployments]),
        "events": cite("audit_events", [e.seq for e in r.events]),
        "overrides": ", ".join(
            [cite(o.table, [o.id]) for o in r.overrides if isinstance(o.id, int)]
            + (
                [cite("audit_events", [e.seq for e in r.override_events])]
                if r.override_events
                else []
            )
        ),
        "head": f"audit_head (event #{r.audit_head[0]})" if r.audit_head else "",
        "checkpoints": r.checkpoints.cited(),
        "monitoring_runs": cite("monitoring_runs", [m.id for m in r.monitoring_runs]),
        "alerts": cite("monitoring_alerts", [a.id for a in r.open_alerts]),
    }


def _only(*values: str) -> tuple[str, ...]:
    return tuple(v for v in values if v)


def annex_iv(r: DocumentRecords) -> tuple[AnnexPoint, ...]:
    """The nine points of Annex IV, each item mapped to a document section and its records."""
    c = _refs(r)
    validated = r.run is not None
    has_fairness = bool(r.gates_of("fairness"))
    card = "model card"
    report = "validation report"
    head_seq = r.audit_head[0] if r.audit_head else None
    checkpoints = r.checkpoints.sentence(head_seq=head_seq)
    return (
        AnnexPoint(
            1,
            "General description of the AI system",
            (
                Item(
                    "(1)(a)",
                    "intended purpose, provider, version",
                    "The recorded intended use, owner and version with its artifact digest; the provider's legal name is the provider's to add.",
                    f"{card} §Overview, §Intended use",
                    _only(c["model"], c["version"]),
                    "partly",
                ),
                Item(
                    "(1)(b)",
                    "interaction with hardware or software outside the system",
                    "The model is an MLflow artifact loaded only when its digest matches; it reads the features in §Features. Interfaces to origination and core systems are the provider's to describe.",
                    f"{card} §Lineage and software, §Features",
                    _only(c["version"]),
                    "partly",
                ),
                Item(
                    "(1)(c)",
                    "versions of the relevant software and update requirements",
                    "Package versions, code commit, trainer and spec digests recorded at training.",
                    f"{card} §Lineage and software",
                    _only(c["version"]),
                    "records",
                ),
                Item(
                    "(1)(d)",
                    "forms in which it is placed on the market or put into service",
                    "Not recorded by riskops.",
                    "—",
                    (),
                    "provider",
                ),
                Item(
                    "(1)(e)",
                    "hardware it is intended to run on",
                    "Not recorded by riskops; the environments it served in are in the deployment history.",
                    f"{card} §Approvals and version history",
                    _only(c["deployments"]),
                    "provider",
                ),
                Item(
                    "(1)(f)",
                    "photographs or illustrations, where the system is a product component",
                    "Not applicable to a scoring model unless the provider embeds it in a product.",
                    "—",
                    (),
                    "provider",
                ),
                Item(
                    "(1)(g)",
                    "the user interface provided to the deployer",
                    "The riskops command line and (later) console; the deployer-facing interface is the provider's.",
                    "—",
                    (),
                    "provider",
                ),
                Item(
                    "(1)(h)",
                    "instructions for use for the deployer",
                    "Intended and out-of-scope use, input specification, performance and its limits, and human oversight, from the recorded spec and gate results (Art. 13).",
                    f"{card} §Intended use, §Features, §Performance, §Limitations, §Human oversight",
                    _only(c["version"], c["gates"]),
                    "records" if validated else "partly",
                ),
            ),
        ),
        AnnexPoint(
            2,
            "Elements of the AI system and its development process",
            (
                Item(
                    "(2)(a)",
                    "methods and steps of development, incl. third-party tools",
                    "The trainer entry point, its parameters, the data split, the model flavor and the packages used.",
                    f"{card} §Data, §Lineage and software",
                    _only(c["version"]),
                    "records",
                ),
                Item(
                    "(2)(b)",
                    "design specifications, key choices with rationale, what it optimises",
                    "The spec records the label, features, policy cut-offs and gate thresholds; "
                    + _rationale_answer(r),
                    f"{card} §Features, §Human oversight; {report} §Gates; this pack §Design choices",
                    _only(c["version"]),
                    "records" if r.spec is not None and r.spec.rationale else "partly",
                ),
                Item(
                    "(2)(c)",
                    "system architecture and compute resources used",
                    "Model flavor and hyper-parameters are recorded; compute used is not yet recorded (resource accounting is planned).",
                    f"{card} §Lineage and software",
                    _only(c["version"]),
                    "partly",
                ),
                Item(
                    "(2)(d)",
                    "data requirements and datasheets: provenance, scope, labelling, cleaning",
                    "Source, fingerprint, rows, class balance, label definition, split and protected attributes; labelling and cleaning procedures are the data owner's.",
                    f"{card} §Data",
                    _only(c["version"], c["performance"]),
                    "partly",
                ),
                Item(
                    "(2)(e)",
                    "assessment of the human-oversight measures (Art. 14)",
                    "The policy's refer band and the two sign-offs are recorded; the assessment of their adequacy is the provider's.",
                    f"{card} §Human oversight; {report} §Sign-offs",
                    _only(c["version"], c["approvals"]),
                    "partly",
                ),
                Item(
                    "(2)(f)",
                    "pre-determined changes to the system and its performance",
                    "None: every change is a new version that passes the gates and both sign-offs again.",
                    f"{card} §Approvals and version history",
                    _only(c["versions"]),
                    "records",
                ),
                Item(
                    "(2)(g)",
                    "validation and testing procedures, metrics incl. discriminatory impact, dated and signed test reports",
                    (
                        "Every gate of the latest validation run with value, threshold and evidence, dated, with who ran it and who signed off."
                        if validated
                        else "Not validated yet: no gate results are recorded."
                    )
                    + (
                        ""
                        if has_fairness
                        else " No fairness (discriminatory impact) result is recorded for this run."
                    ),
                    f"{report} §Gates, §Evidence, §Sign-offs",
                    _only(c["runs"], c["gates"], c["approvals"]),
                    "records" if validated and has_fairness else "partly",
                ),
                Item(
                    "(2)(h)",
                    "cybersecurity measures (Art. 15: accuracy, robustness and cybersecurity)",
                    "Artifacts are served only when their SHA-256 digest matches the approved one; every state change is in a hash-chained audit log; roles enforce separation of duties. Infrastructure security is the provider's. "
                    + checkpoints,
                    f"{card} §Lineage and software",
                    _only(c["version"], c["head"], c["checkpoints"]),
                    "partly",
                ),
            ),
        ),
        AnnexPoint(
            3,
            "Monitoring, functioning and control",
            (
                Item(
                    "(3)",
                    "capabilities and limitations in performance, accuracy overall and for specific groups",
                    "Gate values with confidence intervals where recorded, accuracy by protected group where the fairness gate ran, and the limitations drawn from the records.",
                    f"{card} §Performance, §Fairness, §Limitations",
                    _only(c["performance"], c["fairness"]),
                    "records" if has_fairness else "partly",
                ),
                Item(
                    "(3)",
                    "foreseeable unintended outcomes and sources of risk",
                    "Out-of-scope use and limitations from the records; "
                    + _failed_answer(r)
                    + " The provider's own risk analysis completes it.",
                    f"{card} §Intended use, §Limitations, §Ethical considerations; this pack §Foreseeable risks",
                    _only(c["version"]),
                    "partly",
                ),
                Item(
                    "(3)",
                    "human-oversight measures and interpretation of outputs",
                    "The refer band, the reason texts per feature and global importance where recorded.",
                    f"{card} §Human oversight, §Explainability",
                    _only(c["version"]),
                    "records",
                ),
                Item(
                    "(3)",
                    "specifications of the input data",
                    "Each feature's type, allowed range or categories, and whether missing values are allowed.",
                    f"{card} §Features",
                    _only(c["version"]),
                    "records",
                ),
            ),
        ),
        AnnexPoint(
            4,
            "Appropriateness of the performance metrics",
            (
                Item(
                    "(4)",
                    "why the chosen metrics suit the system",
                    "The metrics and their thresholds are fixed in the spec before validation and stored with every result. "
                    + _metrics_answer(r),
                    f"{report} §Gates; this pack §Design choices",
                    _only(c["gates"], c["version"]),
                    "records" if _metrics_explained(r) else "partly",
                ),
            ),
        ),
        AnnexPoint(
            5,
            "Risk management system (Art. 9)",
            (
                Item(
                    "(5)",
                    "testing against prior-defined metrics and thresholds across the lifecycle",
                    "Gates with thresholds from the spec, blocking or advisory, on every version; overrides only by a risk officer with a written justification.",
                    f"{report} §Gates, §Sign-offs",
                    _only(c["runs"], c["gates"], c["overrides"]),
                    "records" if validated else "partly",
                ),
                Item(
                    "(5)",
                    "risk identification, estimation and acceptance of residual risk",
                    "Not generated: the organisation's risk management process is the provider's.",
                    "—",
                    (),
                    "provider",
                ),
            ),
            provider_note="Parts of point 5 are the provider's own: the risk management system as an organisational process (identifying risks to health, safety and fundamental rights, judging residual risk acceptable) cannot be generated from model records.",
        ),
        AnnexPoint(
            6,
            "Changes made through the lifecycle",
            (
                Item(
                    "(6)",
                    "relevant changes to the system",
                    "Every version with its state, and every deployment and rollback, with who and when; the audit events of this version; what changed since the previous version.",
                    f"{card} §Approvals and version history; this pack §Changes since the previous version",
                    _only(c["versions"], c["deployments"], c["events"]),
                    "records",
                ),
                Item(
                    "(6)",
                    "automatic recording of events over the system's lifetime (Art. 12, record-keeping)",
                    "Every change to this version is an audit event, hash-chained to the one before. "
                    + checkpoints,
                    f"{card} §Lineage and software",
                    _only(c["events"], c["head"], c["checkpoints"]),
                    "records",
                ),
            ),
        ),
        AnnexPoint(
            7,
            "Harmonised standards applied, or other solutions",
            (
                Item(
                    "(7)",
                    "the harmonised standards applied, or the solutions adopted instead",
                    "Not generated: riskops claims no harmonised standard.",
                    "—",
                    (),
                    "provider",
                ),
            ),
            provider_note="Point 7 is the provider's own: the list of harmonised standards (or other technical solutions) its quality management system applies.",
        ),
        AnnexPoint(
            8,
            "EU declaration of conformity",
            (
                Item(
                    "(8)",
                    "a copy of the EU declaration of conformity (Art. 47)",
                    _declaration_answer(r),
                    "this pack §Attachments",
                    _declaration_records(r),
                    "records" if _declaration_records(r) else "provider",
                ),
            ),
            provider_note="Point 8 is the provider's own: only the provider can draw up and sign the EU declaration of conformity.",
        ),
        AnnexPoint(
            9,
            "Post-market monitoring system and plan (Art. 72)",
            (
                Item(
                    "(9)",
                    "the system to evaluate performance after placing on the market, and the plan",
                    _monitoring_answer(r),
                    f"{card} §Monitoring plan",
                    _only(c["version"], c["monitoring_runs"], c["alerts"]),
                    "records" if r.monitoring_runs else "partly",
                ),
            ),
        ),
    )


def model_risk(r: DocumentRecords) -> tuple[Pillar, ...]:
    """The model-risk pillars, US and UK, mapped to riskops records."""
    c = _refs(r)
    return (
        Pillar(
            "Model inventory, identification and tiering",
            "SR 26-2 / OCC Bulletin 2026-13: model inventory (SR 11-7 / OCC 2011-12: the same)",
            "SS1/23 Principle 1: model identification and model risk classification",
            f"Inventory row with risk tier '{r.model.risk_tier}' and owner '{r.model.owner}'; every version with its state.",
            _only(c["model"], c["versions"]),
            "records",
        ),
        Pillar(
            "Governance, policies and documentation",
            "SR 26-2 / OCC Bulletin 2026-13: governance, policies and controls; documentation (SR 11-7 / OCC 2011-12: the same, more prescriptive)",
            "SS1/23 Principle 2: governance (an accountable senior manager)",
            "Sign-offs by role with separation of duties, a verifiable audit chain, and these documents generated from records. Naming the accountable senior manager (SMF) is the firm's.",
            _only(c["approvals"], c["events"], c["head"]),
            "partly",
        ),
        Pillar(
            "Development, implementation and use",
            "SR 26-2 / OCC Bulletin 2026-13: model development, implementation and use",
            "SS1/23 Principle 3: model development, implementation and use",
            "Lineage of the version (code commit, data fingerprint, spec and trainer digests, parameters) and the decision policy in its spec.",
            _only(c["version"]),
            "records",
        ),
        Pillar(
            "Independent validation and effective challenge",
            "SR 26-2 / OCC Bulletin 2026-13: validation by parties independent of development (SR 11-7 / OCC 2011-12: effective challenge)",
            "SS1/23 Principle 4: independent model validation",
            "Gates with stored evidence, run and signed off by a validator who did not train the version.",
            _only(c["runs"], c["gates"], c["approvals"]),
            "records" if r.run else "partly",
        ),
        Pillar(
            "Ongoing monitoring and outcomes analysis",
            "SR 26-2 / OCC Bulletin 2026-13: risk-based ongoing monitoring and outcomes analysis (SR 11-7 / OCC 2011-12: at least annual review)",
            "SS1/23 Principles 4 and 5: ongoing performance monitoring",
            _monitoring_answer(r),
            _only(c["version"], c["monitoring_runs"], c["alerts"]),
            "records" if r.monitoring_runs else "partly",
        ),
        Pillar(
            "Risk mitigants and overrides",
            "SR 26-2 / OCC Bulletin 2026-13: use of models with limitations, compensating controls",
            "SS1/23 Principle 5: model risk mitigants (post-model adjustments)",
            "Refer band (a person decides), overrides of failed gates by a risk officer with a justification, and rollback to the previous approved version.",
            _only(c["version"], c["overrides"], c["deployments"]),
            "records",
        ),
    )


def _rationale_answer(r: DocumentRecords) -> str:
    entries = r.spec.rationale if r.spec is not None else {}
    if not entries:
        return "no rationale recorded in the spec: the reasons behind the choices are the provider's to add (rationale in model.yaml)."
    return f"the provider's rationale for {len(entries)} of them is recorded in the spec and shown beside each."


_METRIC_FAMILIES = ("performance", "calibration", "detection")


def _metrics_explained(r: DocumentRecords) -> bool:
    entries = r.spec.rationale if r.spec is not None else {}
    return any(k.partition(".")[0] in _METRIC_FAMILIES for k in entries)


def _metrics_answer(r: DocumentRecords) -> str:
    if _metrics_explained(r):
        return "Why they fit is the provider's rationale recorded in the spec (§Design choices)."
    return "No rationale recorded in the spec for the metrics: why they fit the portfolio is the provider's to argue."


def _failed_answer(r: DocumentRecords) -> str:
    failed = [g for g in r.gates if g.status == "failed"]
    fairness = [g.gate for g in failed if g.family == "fairness"]
    others = [g.gate for g in failed if g.family != "fairness"]
    parts = []
    if fairness:
        parts.append("failed fairness checks: " + ", ".join(fairness))
    if others:
        parts.append("other failed checks: " + ", ".join(others))
    if not parts:
        return "no check of the latest validation run failed." if r.run else "not validated yet."
    return "; ".join(parts) + " (§Foreseeable risks)."


def _declarations(r: DocumentRecords) -> list[tuple[int, str, str]]:
    return [
        (e.seq, str(e.payload.get("name", "")), str(e.payload.get("sha256", "")))
        for e in r.events
        if e.action == "document.attached" and e.payload.get("kind") == "declaration_of_conformity"
    ]


def _declaration_answer(r: DocumentRecords) -> str:
    found = _declarations(r)
    if not found:
        return "Not attached yet: only the provider can draw it up and sign it; file it with riskops documents attach."
    _, name, digest = found[-1]
    return f"Attached by the provider: {name} (sha256 {digest[:16]}…), re-hashed at every render (§Attachments)."


def _declaration_records(r: DocumentRecords) -> tuple[str, ...]:
    found = _declarations(r)
    return (cite("audit_events", [seq for seq, _, _ in found]),) if found else ()


def _monitoring_answer(r: DocumentRecords) -> str:
    """The monitoring system, its plan (the spec's rules) and what its latest runs found."""
    plan = (
        "Monitoring runs judge each window of decisions against the reference profile fitted at "
        "registration (feature and prediction drift, data quality, decision rates against the "
        "reference, fallbacks), with thresholds, Benjamini–Hochberg FDR control, a minimum "
        "sample and persistence from the spec's monitoring section; each run is sealed in the "
        "audit chain and alerts carry runbooks; outcomes are analysed as labels arrive "
        "(vintage matrix, realised against expected performance). The model card's monitoring "
        "plan gives this version's rules."
    )
    if not r.monitoring_runs:
        return plan + " No monitoring run yet has seen a decision of this version."
    runs = "; ".join(
        f"{m.environment}: monitoring_runs #{m.id}, {m.decisions} decisions, "
        + (f"{len(m.breaches)} breach(es)" if m.breaches else "no breach")
        for m in r.monitoring_runs
    )
    alerts = (
        f"{len(r.open_alerts)} alert(s) open: "
        + ", ".join(f"{a.alert} on {a.target} ({a.severity})" for a in r.open_alerts)
        if r.open_alerts
        else "no alert open"
    )
    return f"{plan} Latest runs — {runs}; {alerts}."
