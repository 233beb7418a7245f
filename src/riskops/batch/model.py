"""Which model version a batch job scores with, and its artifact, verified, as bytes to ship.

A batch job scores only with a version that may serve, by governance's rule
(:func:`riskops.governance.serving.ineligibility`: approved, with a validator's and a risk
officer's sign-off), and only from an artifact whose digest is the approved one
(:func:`riskops.registry.artifacts.verified_folder`). The version is named (``NAME@VERSION``)
or is the champion deployed in an environment (``NAME`` with ``environment``).

The verified artifact travels to the workers as a :class:`ModelBundle`: the folder's files as
bytes, with the approved digest. Each worker (a local process, a Spark executor) writes them to
a private folder, recomputes the digest, and loads the model only if it is still the approved
one — the same check serving makes, on every process that scores.

Example::

    bundle = fetch_bundle(ctx, resolve_version(ctx, "credit-scoring@3"))
    scorer = bundle.scorer()            # in a worker: digest checked again, then loaded
"""

from __future__ import annotations

from dataclasses import dataclass

from riskops.batch.bundle import ModelBundle
from riskops.context import Context
from riskops.errors import ConflictError, InputError, NotFoundError
from riskops.governance.serving import ineligibility, lanes_of
from riskops.registry.artifacts import verified_folder
from riskops.registry.versions import ModelRef, get_model, get_version, parse_ref
from riskops.spec import ModelSpec, parse_spec


def check_batchable(ref: ModelRef, spec: ModelSpec) -> None:
    """InputError for a model batch scoring cannot score as serving does: one with history
    features, which the server computes from its online store at each decision."""
    if spec.history is not None:
        names = ", ".join(f.name for f in spec.history.features)
        raise InputError(
            f"{ref} has history features ({names}), which the server computes from its online "
            "store at each decision; batch scoring takes every feature as a column and would "
            "score values the server never sees, so it does not score this model.",
            hint="Score its transactions through the server's batch endpoint "
            "(POST /v1/models/<name>/decisions:batch) instead.",
        )


@dataclass(frozen=True)
class Resolved:
    """The version a job scores with: its reference, approved digest, flavor, recorded spec
    (YAML) and artifact location."""

    ref: ModelRef
    digest: str
    flavor: str
    spec_yaml: str
    source: str

    @property
    def spec(self) -> ModelSpec:
        return parse_spec(self.spec_yaml, source=str(self.ref)).spec


def resolve_version(
    ctx: Context, target: str | ModelRef, *, environment: str | None = None
) -> Resolved:
    """The version ``target`` names: ``NAME@VERSION``, or ``NAME`` with ``environment`` (the
    version deployed there as champion). ConflictError, with governance's reason, for a
    version that may not serve; NotFoundError for an unknown model or an environment where
    nothing of it is deployed."""
    text = str(target).strip()
    if "@" in text:
        if environment is not None:
            raise InputError(
                f"Give either a version ({text}) or an environment ({environment}), not both.",
                hint="riskops batch score credit-scoring@3 ... or riskops batch score "
                "credit-scoring --env production ...",
            )
        ref = parse_ref(text)
    else:
        if environment is None:
            raise InputError(
                f"{text!r} names no version.",
                hint=f"Name one ({text}@VERSION) or score with the champion of an environment: "
                f"riskops batch score {text} --env production ...",
            )
        if environment not in ctx.settings.environments:
            raise InputError(
                f"Unknown environment {environment!r}. Valid environments are: "
                f"{', '.join(ctx.settings.environments)}.",
                hint="Pass one of them with --env.",
            )
        with ctx.store.reading() as session:
            get_model(session, text)
            champions = [
                row for row, lane in lanes_of(session, text, environment) if lane == "champion"
            ]
        if not champions:
            raise NotFoundError(
                f"No version of {text} is deployed in {environment}.",
                hint=f"Deploy one (riskops deploy {text}@VERSION --env {environment} --as <operator>) "
                "or name the version to score with.",
            )
        ref = ModelRef(text, champions[0].version)
    with ctx.store.reading() as session:
        record = get_version(session, ref)
        why = ineligibility(session, ref.name, ref.version)
        resolved = Resolved(
            ref, record.digest, record.flavor, record.spec_yaml, record.artifact_uri
        )
    check_batchable(resolved.ref, resolved.spec)
    if why is not None:
        raise ConflictError(
            f"Cannot batch-score with {ref}: {why}. Only a version that may serve may score.",
            model_ref=str(ref),
            hint=f"riskops show {ref.name} shows its state and sign-offs; a version needs to be "
            "approved by a validator and a risk officer.",
        )
    return resolved


def fetch_bundle(ctx: Context, resolved: Resolved) -> ModelBundle:
    """The artifact of ``resolved`` as a :class:`ModelBundle`; IntegrityError when the stored
    artifact's digest differs from the approved one."""
    ref = resolved.ref
    with verified_folder(
        ctx.registry, ref.name, ref.version, digest=resolved.digest, source=resolved.source
    ) as folder:
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    return ModelBundle(
        ref.name, ref.version, resolved.digest, resolved.flavor, resolved.spec_yaml, files
    )
