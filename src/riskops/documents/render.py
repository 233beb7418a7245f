"""Rendering a version's documents: the service behind ``riskops docs``.

For ``MODEL@VERSION`` three documents are written to ``out_dir``, in each format asked for:

* ``<model>-v<version>-validation-report``: every gate of the latest validation run, its
  evidence, and the sign-offs;
* ``<model>-v<version>-model-card``: intended use, data, features, performance, fairness,
  explainability, limitations, human oversight, monitoring plan, approvals and history;
* ``<model>-v<version>-annex-iv``: the EU AI Act Annex IV technical documentation pack and the
  model-risk (SR 26-2 / SR 11-7, PRA SS1/23) mapping.

HTML is one self-contained file per document (inline CSS, plots as base64 PNG), so it can be
mailed; Markdown links PNG files written beside it in ``<model>-v<version>-figures/``; PDF is the
HTML printed by WeasyPrint (the ``pdf`` extra).

Example::

    render_documents(ctx, parse_ref("credit-scoring@1"), Path("reports"), formats=("html",))
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from riskops.errors import InputError, MissingExtraError

try:  # the docs extra: a missing package is named where documents are asked for
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup, escape
except ModuleNotFoundError as _missing:
    if (_missing.name or "").split(".")[0] not in {"jinja2", "markupsafe"}:
        raise
    raise MissingExtraError("Model documents", _missing.name or "jinja2", "docs") from _missing

from riskops.context import Context
from riskops.documents.figures import Plot
from riskops.documents.locations import public_location
from riskops.documents.records import gather_records
from riskops.documents.sections import Content, build_content
from riskops.registry.versions import ModelRef

FORMATS = ("html", "md", "pdf")
DOCUMENTS = (
    ("validation-report", "validation_report", "validation report"),
    ("model-card", "model_card", "model card"),
    ("annex-iv", "annex_iv", "Annex IV pack"),
)
PdfWriter = Callable[[str, Path], None]


def render_documents(
    ctx: Context,
    ref: ModelRef,
    out_dir: Path,
    formats: Sequence[str] = ("html", "md"),
) -> list[Path]:
    """Write the validation report, model card and Annex IV pack of ``ref`` to ``out_dir`` in
    each of ``formats`` and return the documents' paths (figures for Markdown sit beside them).

    Raises NotFoundError for an unknown version, InputError for an unknown format or an
    ``out_dir`` that is a file, and MissingExtraError for PDF without WeasyPrint.
    """
    chosen = _formats(formats)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(
            f"{out_dir} is a file; the documents go into a folder.",
            hint="Name a folder instead (it is created if missing), e.g. reports/",
        )
    pdf = _pdf_writer() if "pdf" in chosen else None  # refuse before writing anything
    content = build_content(
        gather_records(ctx, ref), rendered_at=ctx.clock(), home=ctx.settings.home
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{ref.name}-v{ref.version}"
    environment = template_environment()
    written: list[Path] = []
    html_pages: dict[str, str] = {}
    if "html" in chosen or "pdf" in chosen:
        for slug, template, _ in DOCUMENTS:
            html_pages[slug] = environment.get_template(f"{template}.html").render(
                _context(content, stem, slug, plot_src=_data_uri)
            )
    if "html" in chosen:
        for slug, page in html_pages.items():
            written.append(_write(out_dir / f"{stem}-{slug}.html", page))
    if "md" in chosen:
        folder = f"{stem}-figures"
        if content.plots:
            (out_dir / folder).mkdir(exist_ok=True)
            for plot in content.plots:
                (out_dir / folder / f"{plot.name}.png").write_bytes(plot.png)

        def linked(plot: Plot) -> str:
            return f"{folder}/{plot.name}.png"

        for slug, template, _ in DOCUMENTS:
            text = environment.get_template(f"{template}.md").render(
                _context(content, stem, slug, plot_src=linked)
            )
            written.append(_write(out_dir / f"{stem}-{slug}.md", text))
    if pdf is not None:
        for slug, page in html_pages.items():
            path = out_dir / f"{stem}-{slug}.pdf"
            pdf(page, path)
            written.append(path)
    return written


def _formats(formats: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise InputError(
            f"Unknown document format {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid formats are: {', '.join(FORMATS)}.",
            hint="For example: --format html --format md",
        )
    return chosen


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _data_uri(plot: Plot) -> str:
    return "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")


def _pdf_writer() -> PdfWriter:
    """WeasyPrint's HTML → PDF, or MissingExtraError saying how to install what is missing."""
    try:
        from weasyprint import HTML
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "weasyprint":
            raise
        raise MissingExtraError("Writing PDF documents", "weasyprint", "pdf") from exc
    except OSError as exc:  # WeasyPrint is installed but cannot load Pango and friends
        error = MissingExtraError("Writing PDF documents", "WeasyPrint's native libraries", "pdf")
        error.message = (
            f"PDF documents need WeasyPrint's native libraries, which did not load: {exc}"
        )
        error.hint = (
            "Install Pango: on Debian or Ubuntu, apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "(see WeasyPrint's installation notes for other systems)."
        )
        raise error from exc

    def write(page: str, path: Path) -> None:
        HTML(string=page).write_pdf(str(path))

    return write


def template_environment() -> Environment:
    """The Jinja2 environment of the documents: their templates, HTML autoescaped, undefined
    names an error, and the number filters (:func:`number`, :func:`percent`, …)."""
    environment = Environment(
        loader=PackageLoader("riskops.documents", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        num=number,
        pct=percent,
        time=moment,
        short=short,
        cell=cell,
        breakable=breakable,
        local=public_location,
    )
    return environment


def _context(
    content: Content, stem: str, slug: str, *, plot_src: Callable[[Plot], str]
) -> dict[str, Any]:
    return {
        "c": content,
        "r": content.records,
        "stem": stem,
        "slug": slug,
        "plot_src": plot_src,
        "names": {slug: f"{stem}-{slug}" for slug, _, _ in DOCUMENTS},
        "titles": {slug: title for slug, _, title in DOCUMENTS},
    }


def number(value: Any) -> str:
    """A stored value for reading: floats to four decimals (small ones in scientific notation),
    integers (and whole floats from 1 up) as integers, nothing as an em dash. The exact stored value stays in the raw
    evidence and, in HTML, in each gate value's tooltip."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return "[" + ", ".join(number(v) for v in value) + "]"
    if isinstance(value, float):
        if value.is_integer() and 1.0 <= abs(value) < 1e15:
            return str(int(value))
        if value != 0.0 and abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def percent(value: Any) -> str:
    """A share as a percentage: 0.3 → ``30%``, 0.2567 → ``25.7%``; below 1% three significant
    digits, so a fraud rate reads 0.172%, not 0.2%."""
    if not isinstance(value, int | float):
        return "—"
    if 0 < abs(float(value)) < 0.01:
        return f"{float(value) * 100:.3g}%"
    return f"{round(float(value) * 100, 1):g}%"


def moment(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value).replace("T", " ")[:19] + " UTC" if value else "—"


def short(value: Any, length: int = 12) -> str:
    text = str(value or "")
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return text[:length]


def breakable(value: Any) -> Markup:
    """HTML text that may wrap after ``.`` and ``_`` (long gate and feature names)."""
    text = str(escape(value))
    return Markup(text.replace(".", ".<wbr>").replace("_", "_<wbr>"))  # noqa: S704 - escaped above


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ").strip()
