"""Charts as SVG drawn on the server: bars (plain or stacked) and lines over a row of groups
(days, weeks, months). No browser, no script and no dependency: the page is complete as sent.

Hand-built on purpose: the reports need three chart shapes, and drawing them here keeps every
chart accessible the same way (role="img" named by its <title> and <desc>, a tooltip <title>
on each bar and point) and coloured with the admin's palette. Each chart sits beside a table
of the same numbers (the page's job), which is what a screen reader or a spreadsheet wants.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 36, 40  # room for the y labels, the legend, the x labels
# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), the admin's
# accent first; grey last, for "Other".
PALETTE = ("#1d4ed8", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7c3aed", "#6b7280")
_ids = count(1)


@dataclass
class Series:
    name: str
    values: Sequence[float | None]  # one per group; None: nothing to show there
    color: str | None = None


Format = Callable[[float], str]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _nice_top(value: float, *, whole: bool = False) -> float:
    """The top of an axis of four equal steps, each 1, 2, 2.5 or 5 x 10^k, at or above `value`;
    with `whole` (counts) every step is a whole number."""
    wanted = max(value, 0) / 4 or 0.25
    power = 10.0 ** math.floor(math.log10(wanted))
    for step in (1, 2, 2.5, 5, 10):
        size = step * power
        if size >= wanted and (not whole or (size >= 1 and float(size).is_integer())):
            return 4 * size
    return 4 * 10 * power


def _frame(title: str, description: str) -> tuple[str, list[str]]:
    chart_id = f"chart-{next(_ids)}"
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" aria-describedby="{chart_id}-desc" class="chart-svg" font-size="12" '
        f'font-family="-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    return chart_id, head


def _axes(labels: Sequence[str], top: float, fmt: Format) -> list[str]:
    """Horizontal grid lines with their values, and as many group labels as fit."""
    parts = ['<g class="axis" fill="#52525b">']
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e7"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    every = max(1, math.ceil(len(labels) / 8))  # at most ~8 labels, so they never overlap
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</g>")
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    if len(series) < 2:
        return []
    parts, x = ['<g class="legend" fill="#18181b">'], float(LEFT)
    for s in series:
        width = 22 + 7 * len(s.name)
        if x + width > WIDTH - RIGHT:
            break  # the table beside the chart names every series; the legend only what fits
        parts.append(f'<rect x="{x:.0f}" y="10" width="12" height="12" rx="2" fill="{s.color}"/>')
        parts.append(f'<text x="{x + 16:.0f}" y="20">{escape(s.name)}</text>')
        x += width + 12
    parts.append("</g>")
    return parts


def _coloured(series: Sequence[Series]) -> list[Series]:
    return [Series(s.name, s.values, s.color or PALETTE[i % len(PALETTE)]) for i, s in enumerate(series)]


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    fmt: Format = _number,
) -> Markup:
    """Bars per group; with several series, stacked in the order given (first at the bottom)."""
    series = _coloured(series)
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    whole = all(float(v or 0).is_integer() for s in series for v in s.values)
    top = _nice_top(max(totals, default=0), whole=whole)
    _, parts = _frame(title, description)
    parts += _axes(labels, top, fmt) + _legend(series)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1)
    for i, label in enumerate(labels):
        base = float(TOP + plot_h)
        x = LEFT + slot * i + (slot - bar_w) / 2
        for s in series:
            value = s.values[i] or 0
            if value <= 0:
                continue
            height = plot_h * value / top
            base -= height
            tip = f"{label}: {fmt(value)}" + (f" {s.name}" if len(series) > 1 else "")
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{height:.1f}" fill="{s.color}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    fmt: Format = _number,
) -> Markup:
    """A line per series through its groups; a group without a value breaks the line there."""
    series = _coloured(series)
    top = _nice_top(max((v for s in series for v in s.values if v is not None), default=0))
    _, parts = _frame(title, description)
    parts += _axes(labels, top, fmt) + _legend(series)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        dots = []
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            point = (LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * value / top)
            runs[-1].append(point)
            dots.append(
                f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="3.5" fill="{s.color}">'
                f"<title>{escape(f'{labels[i]}: {fmt(value)} {s.name}')}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2"/>')
        parts += dots
    parts.append("</svg>")
    return Markup("".join(parts))
