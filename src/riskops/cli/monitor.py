"""``riskops monitor``: drift and data quality of a model's inputs.

``monitor compare REF CUR --spec model.yaml`` compares two Parquet/CSV files exactly (see
:mod:`riskops.monitoring.compare`); ``--model NAME@VERSION`` (or ``--profile FILE``) compares on
a registered version's frozen bins instead of bins fitted on REF.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from riskops.cli.output import console, print_json, progress
from riskops.cli.state import State
from riskops.errors import InputError
from riskops.spec import load_spec

if TYPE_CHECKING:
    from riskops.profiles.profile import ReferenceProfile

app = typer.Typer(help="Monitor drift and data quality.", no_args_is_help=True)


@app.command()
def compare(
    ctx: typer.Context,
    reference: Annotated[Path, typer.Argument(metavar="REF", help="Reference Parquet/CSV file.")],
    current: Annotated[Path, typer.Argument(metavar="CUR", help="Current Parquet/CSV file.")],
    spec_path: Annotated[
        Path, typer.Option("--spec", help="The model.yaml whose features are compared.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="NAME@VERSION",
            help="Bin on this registered version's reference profile (verified).",
        ),
    ] = None,
    profile_path: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="A version's reference profile (JSON): bin on its frozen edges "
            "instead of edges fitted on REF.",
        ),
    ] = None,
    multivariate: Annotated[
        bool,
        typer.Option("--multivariate/--no-multivariate", help="Also run the domain classifier."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the result as JSON to this file.")
    ] = None,
) -> None:
    """Compare two files feature by feature: PSI, JS, Hellinger, chi-square, exact KS and
    Wasserstein, missing/out-of-range/unseen rates, and a domain classifier.

    Example: riskops monitor compare ref.parquet cur.parquet --spec models/credit_scoring/model.yaml
    """
    from riskops.monitoring.compare import compare_files

    spec = load_spec(spec_path).spec
    if model is not None and profile_path is not None:
        raise InputError(
            "--model and --profile both name the bins to use; give one.",
            hint="--model NAME@VERSION reads the registered version's profile; --profile FILE "
            "reads a profile document.",
        )
    profile = _read_profile(profile_path) if profile_path is not None else None
    if model is not None:
        from riskops.monitoring.reference import registered_profile
        from riskops.registry.versions import parse_ref

        state: State = ctx.obj
        profile = registered_profile(state.context(), parse_ref(model))
    result = compare_files(
        reference,
        current,
        spec,
        profile=profile,
        multivariate=multivariate,
        progress=None if as_json else progress,
    )
    body = result.as_dict()
    if out is not None:
        out.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(body)
        return
    table = Table(
        title=f"{result.reference} ({result.reference_rows:,} rows) → "
        f"{result.current} ({result.current_rows:,} rows); bins {result.profile}"
    )
    for header in (
        "feature",
        "type",
        "PSI",
        "JS",
        "Hellinger",
        "χ² p",
        "KS",
        "KS p",
        "W1/σ",
        "missing",
        "out of range",
        "unseen",
    ):
        table.add_column(header, justify="left" if header in {"feature", "type"} else "right")
    for f in result.features:
        table.add_row(
            f.feature,
            f.type,
            f"{f.psi:.4f}",
            f"{f.jensen_shannon:.4f}",
            f"{f.hellinger:.4f}",
            _p(f.chi_square_p),
            _num(f.ks),
            _p(f.ks_p),
            _num(f.wasserstein_normed),
            f"{f.missing_current:.2%}",
            "-" if f.out_of_range_current is None else f"{f.out_of_range_current:.2%}",
            "-" if f.unseen_current is None else f"{f.unseen_current:.2%}",
        )
    console.print(table)
    classifier = result.multivariate
    if classifier is not None:
        drivers = ", ".join(f"{i.feature} ({i.gain_share:.0%})" for i in classifier.top[:3])
        sample = (
            f"seeded subsample of {classifier.used_reference_rows:,} + "
            f"{classifier.used_current_rows:,} rows"
            if classifier.subsampled
            else "all rows"
        )
        console.print(
            f"Domain classifier AUC {classifier.auc:.3f} "
            f"[{classifier.low:.3f}, {classifier.high:.3f}] ({classifier.confidence:.0%} DeLong, "
            f"{classifier.held_out_rows:,} held-out rows, {sample}); drivers: {drivers or '-'}"
        )
    if out is not None:
        console.print(f"Wrote {out}")


def _read_profile(path: Path) -> ReferenceProfile:
    from riskops.profiles.profile import ReferenceProfile

    if not path.is_file():
        raise InputError(
            f"No reference profile at {path}.",
            hint="Pass the reference_profile.json written when the version was registered.",
        )
    return ReferenceProfile.from_json(path.read_bytes())


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"
