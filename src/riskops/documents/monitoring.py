"""The monitoring report: one self-contained HTML file about a model's latest monitoring run.

Rendered from :func:`riskops.monitoring.report.gather_report`'s records with the documents'
Jinja2 environment and number filters; every figure is inline SVG drawn here from stored
counts (no script, no stylesheet or image fetched from anywhere), so the file can be mailed or
archived alone.

Example::

    path = write_monitoring_report(ctx, "credit-scoring", Path("monitoring.html"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from markupsafe import Markup, escape

from riskops.context import Context
from riskops.documents.render import template_environment
from riskops.errors import InputError
from riskops.monitoring.alerts import RUNBOOKS
from riskops.monitoring.report import Distribution, MonitoringReport, gather_report, threshold_of

REFERENCE_COLOUR = "#2c6fbb"
CURRENT_COLOUR = "#c0392b"
TEMPLATE = "monitoring_report.html"


def default_path(model: str, environment: str) -> Path:
    """``<model>-<environment>-monitoring.html`` in the working folder."""
    return Path(f"{model}-{environment}-monitoring.html")


def render_monitoring_report(report: MonitoringReport, *, runbook_base: str = "") -> str:
    """The report's HTML page."""
    environment = template_environment()
    template = environment.get_template(TEMPLATE)
    return template.render(
        m=report,
        bars=distribution_svg,
        rates_svg=rates_svg,
        threshold_of=threshold_of,
        runbook=lambda name: f"{runbook_base}{RUNBOOKS.get(name, name)}",
    )


def write_monitoring_report(
    ctx: Context,
    model: str,
    out: Path | None = None,
    *,
    environment: str = "production",
) -> Path:
    """Gather and render the report of ``model`` in ``environment`` into ``out`` (default
    :func:`default_path`); InputError when ``out`` cannot be written, checked before reading."""
    path = default_path(model, environment) if out is None else out
    _check_writable(path)
    report = gather_report(ctx, model, environment=environment)
    page = render_monitoring_report(report, runbook_base=ctx.settings.runbook_base)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"Cannot write the monitoring report to {path}: {exc.strerror or exc}.",
            hint="Name a file in a folder you can write to with --out, e.g. --out report.html",
        ) from exc
    return path


def _check_writable(path: Path) -> None:
    if path.is_dir():
        raise InputError(
            f"{path} is a folder; the monitoring report is one file.",
            hint=f"Name the file, e.g. --out {path / 'monitoring.html'}",
        )
    if not path.parent.is_dir():
        raise InputError(
            f"Cannot write the monitoring report to {path}: the folder {path.parent} does not "
            "exist.",
            hint="Create the folder first, or name a file in an existing one with --out.",
        )


def distribution_svg(d: Distribution, width: int = 520, height: int = 170) -> Markup:
    """Side-by-side bars of the reference and window shares per coarse bin, as inline SVG."""
    ref, cur = d.shares(d.reference), d.shares(d.current)
    top = max([*ref, *cur, 1e-9])
    bins = len(d.labels)
    left, bottom, plot_h = 36, 34, height - 48
    slot = (width - left - 8) / max(bins, 1)
    bar = max(slot * 0.38, 1.0)
    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(d.name)}: reference '
        'and current share per bin">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" '
        'stroke="#8a94a6"/>',
        f'<text x="2" y="16" font-size="10" fill="#5a6575">{top:.0%}</text>',
    ]
    for i, (label, r, c) in enumerate(zip(d.labels, ref, cur, strict=True)):
        x = left + i * slot + slot * 0.1
        for offset, share, colour in ((0.0, r, REFERENCE_COLOUR), (bar, c, CURRENT_COLOUR)):
            h = plot_h * share / top
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{share:.2%}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{height - bottom + 12}" font-size="8" '
            f'text-anchor="end" transform="rotate(-30 {x + bar:.1f} {height - bottom + 12})" '
            f'fill="#5a6575">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def rates_svg(observed: dict[str, float], expected: dict[str, float], width: int = 360) -> Markup:
    """Horizontal bars of each outcome's rate in the window against the reference's rate."""
    names: Sequence[str] = sorted(set(observed) | set(expected))
    row = 34
    height = row * len(names) + 10
    parts = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="decision rates">'
    ]
    for i, name in enumerate(names):
        y = 6 + i * row
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{escape(name)}</text>')
        for j, (share, colour) in enumerate(
            ((expected.get(name), REFERENCE_COLOUR), (observed.get(name), CURRENT_COLOUR))
        ):
            if share is None:
                continue
            w = (width - 130) * float(share)
            parts.append(
                f'<rect x="70" y="{y + j * 12}" width="{w:.1f}" height="10" fill="{colour}"/>'
                f'<text x="{74 + w:.1f}" y="{y + 9 + j * 12}" font-size="9">{share:.1%}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
