"""Plots drawn from stored gate evidence only: ROC and precision-recall curves, calibration by
score band, score distributions of events and non-events, approval rate by group, and global
feature importance. Each is a PNG in memory.

Matplotlib is used through ``Figure`` and the Agg canvas directly, never ``pyplot``: no global
backend is selected and no figure registry grows, so drawing is safe in a server or a thread.

Example::

    png = roc_figure(Curve((0.0, 0.3, 1.0), (0.0, 0.8, 1.0)), auc=0.79)
    png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from riskops.errors import MissingExtraError

try:  # the docs extra: a missing package is named where documents are asked for
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ModuleNotFoundError as _missing:
    if (_missing.name or "").split(".")[0] != "matplotlib":
        raise
    raise MissingExtraError("Model documents", "matplotlib", "docs") from _missing

from riskops.documents.evidence import Curve, Histogram, group_label, is_number

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVENT_COLOUR = "#c0392b"
NON_EVENT_COLOUR = "#2c6fbb"
NEUTRAL_COLOUR = "#4a5568"
_DPI = 110


@dataclass(frozen=True)
class Plot:
    """A figure of a document: a file-safe ``name``, a title, the records it was drawn from,
    and the PNG bytes."""

    name: str
    title: str
    source: str
    png: bytes


def _new(width: float = 6.0, height: float = 4.0) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.grid(True, color="#e2e8f0", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def roc_figure(roc: Curve, *, auc: float | None = None) -> bytes:
    """True-positive rate against false-positive rate, with the diagonal of a random score."""
    figure, axes = _new(5.0, 4.2)
    label = f"candidate (AUC {auc:.4f})" if auc is not None else "candidate"
    axes.plot(roc.x, roc.y, color=NON_EVENT_COLOUR, linewidth=2, label=label)
    axes.plot([0, 1], [0, 1], color="#a0aec0", linestyle="--", linewidth=1, label="random")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false-positive rate")
    axes.set_ylabel("true-positive rate")
    axes.legend(loc="lower right", frameon=False)
    return _png(figure)


def precision_recall_figure(pr: Curve, *, base_rate: float | None = None) -> bytes:
    """Precision against recall; the event rate is the precision of a random score."""
    figure, axes = _new(5.0, 4.2)
    axes.plot(pr.x, pr.y, color=NON_EVENT_COLOUR, linewidth=2, label="candidate")
    if base_rate is not None:
        axes.axhline(base_rate, color="#a0aec0", linestyle="--", linewidth=1, label="event rate")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.legend(loc="upper right", frameon=False)
    return _png(figure)


def calibration_figure(bands: Sequence[tuple[float, float]]) -> bytes:
    """Observed event rate against mean predicted score per band, beside the diagonal."""
    figure, axes = _new(5.0, 4.2)
    top = max(1e-9, *(max(m, o) for m, o in bands))
    limit = min(1.0, top * 1.1)
    axes.plot([0, limit], [0, limit], color="#a0aec0", linestyle="--", linewidth=1, label="perfect")
    xs = [m for m, _ in bands]
    ys = [o for _, o in bands]
    axes.plot(xs, ys, color=EVENT_COLOUR, marker="o", linewidth=1.5, label="observed")
    axes.set_xlim(0, limit)
    axes.set_ylim(0, limit * 1.03)
    axes.set_xlabel("mean predicted score in band")
    axes.set_ylabel("observed event rate in band")
    axes.legend(loc="upper left", frameon=False)
    return _png(figure)


def score_distribution_figure(
    histogram: Histogram, *, cut_offs: Mapping[str, float] | None = None
) -> bytes:
    """Share of events and of non-events per score bin, with the policy's cut-offs marked."""
    figure, axes = _new(6.4, 3.8)
    edges = histogram.edges
    widths = [b - a for a, b in pairwise(edges)]
    for counts, colour, label in (
        (histogram.non_events, NON_EVENT_COLOUR, "non-events"),
        (histogram.events, EVENT_COLOUR, "events"),
    ):
        total = sum(counts) or 1.0
        axes.bar(
            edges[:-1],
            [c / total for c in counts],
            width=widths,
            align="edge",
            color=colour,
            alpha=0.45,
            edgecolor=colour,
            linewidth=0.8,
            label=f"{label} (n={sum(counts):g})",
        )
    for name, value in (cut_offs or {}).items():
        axes.axvline(value, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1.2)
        axes.annotate(
            f"{name} {value:g}",
            (value, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
            color=NEUTRAL_COLOUR,
        )
    axes.set_xlim(edges[0], edges[-1])
    axes.set_xlabel("score (probability of the event)")
    axes.set_ylabel("share of the class")
    axes.legend(loc="upper right", frameon=False, bbox_to_anchor=(1.0, 0.88))
    return _png(figure)


def fairness_figure(groups: Sequence[Mapping[str, Any]], *, attribute: str) -> bytes | None:
    """Approval rate per group of one protected attribute, with each group's size; groups the
    gate left out of its comparison (too few rows) are drawn pale. None when no group has a
    rate."""
    rows = [g for g in groups if is_number(g.get("approval_rate"))]
    if not rows:
        return None
    figure, axes = _new(6.0, 0.9 + 0.42 * len(rows))
    labels = []
    for g in rows:
        size = g.get("count")
        label = group_label(g) + (f" (n={size})" if is_number(size) else "")
        labels.append(label + (", not compared" if g.get("excluded") is True else ""))
    values = [float(g["approval_rate"]) for g in rows]
    colours = ["#b8c7dc" if g.get("excluded") is True else NON_EVENT_COLOUR for g in rows]
    bars = axes.barh(labels, values, color=colours)
    axes.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=8)
    axes.set_xlim(0, min(1.0, max(values) * 1.25) or 1.0)
    axes.set_xlabel(f"approval rate by {attribute}")
    axes.grid(False, axis="y")
    return _png(figure)


def importance_figure(pairs: Sequence[tuple[str, float]], *, unit: str | None = None) -> bytes:
    """Global importance per feature, largest first, as stored."""
    ordered = sorted(pairs, key=lambda p: abs(p[1]), reverse=True)
    figure, axes = _new(7.2, 0.9 + 0.3 * len(ordered))
    axes.barh([n for n, _ in ordered], [v for _, v in ordered], color=NEUTRAL_COLOUR, alpha=0.8)
    axes.invert_yaxis()
    axes.tick_params(axis="y", labelsize=8)
    axes.set_xlabel(unit or "global importance", fontsize=9)
    axes.grid(False, axis="y")
    return _png(figure)


def monotonicity_figure(curve: Curve, *, feature: str, direction: str | None) -> bytes:
    """The score of the worst row as one feature moves along its grid, others held fixed."""
    figure, axes = _new(5.0, 3.6)
    axes.plot(curve.x, curve.y, color=EVENT_COLOUR, marker="o", markersize=3.5, linewidth=1.5)
    axes.set_xlabel(feature)
    axes.set_ylabel("score of the worst row")
    if direction:
        axes.set_title(f"declared {direction}", fontsize=9, color=NEUTRAL_COLOUR, loc="left")
    return _png(figure)


def _clip(text: str, length: int = 38) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def dependence_figure(
    grid: Sequence[float],
    mean: Sequence[float],
    band: tuple[Sequence[float], Sequence[float]],
    *,
    feature: str,
    labels: Sequence[str] | None = None,
    monotone: str | None = None,
) -> bytes:
    """Partial dependence of the score on one feature: the mean score over the rows with the
    feature set to each grid value, and the 10th-90th percentile band of the rows' own curves.
    A categorical feature is drawn across, one line per category name."""
    low, high = band
    if labels is not None:
        names = [_clip(str(labels[int(v)])) for v in grid]
        figure, axes = _new(5.4, 1.1 + 0.36 * len(names))
        positions = list(range(len(names)))
        axes.hlines(positions, low, high, color=NON_EVENT_COLOUR, alpha=0.35, linewidth=6)
        axes.plot(mean, positions, "o", color=EVENT_COLOUR, markersize=5, label="mean score")
        axes.set_yticks(positions, names, fontsize=8)
        axes.invert_yaxis()
        axes.set_xlabel("score (probability of the event)\ndot: mean; bar: 10th-90th percentile")
        axes.grid(False, axis="y")
    else:
        figure, axes = _new(5.0, 3.6)
        axes.fill_between(
            grid, low, high, color=NON_EVENT_COLOUR, alpha=0.18, linewidth=0, label="10th-90th pct"
        )
        axes.plot(grid, mean, color=EVENT_COLOUR, marker="o", markersize=3, label="mean score")
        axes.set_xlabel(f"{feature} (value set on every row)")
        axes.set_ylabel("score (probability of the event)")
        axes.legend(loc="best", frameon=False, fontsize=8)
    note = f"{feature}" + (f" · declared {monotone}" if monotone else "")
    axes.set_title(note, fontsize=9, color=NEUTRAL_COLOUR, loc="left")
    return _png(figure)
