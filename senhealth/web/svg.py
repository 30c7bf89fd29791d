"""Small line charts as inline SVG, drawn on the server (no chart library, no script).

A chart is a few polylines over a shared time axis, with the lowest and highest value and the first and
last date as labels. SVG 1.1: https://www.w3.org/TR/SVG11/shapes.html#PolylineElement
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart"]

_COLOURS = ("#b3261e", "#1f5fa8", "#2e7d32", "#8e24aa")


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[tuple[dt.datetime, float]]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.1f}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    unit: str,
    date_label: Callable[[dt.datetime], str],
    width: int = 360,
    height: int = 150,
) -> Markup:
    """An ``<svg>`` with one polyline per series (series without points are left out)."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return Markup("")
    times = [p[0].timestamp() for s in drawn for p in s.points]
    values = [p[1] for s in drawn for p in s.points]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    if t1 == t0:
        t1 = t0 + 1
    if v1 == v0:
        v0, v1 = v0 - 1, v1 + 1
    left, right, top, bottom = 40, 8, 18, 22
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + (1 - (v - v0) / (v1 - v0)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{escape(_fmt(v1))}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">{escape(_fmt(v0))}</text>',
        f'<text x="{left}" y="{height - 6}" font-size="10">{escape(date_label(dt.datetime.fromtimestamp(t0, dt.UTC)))}</text>',
        f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" font-size="10">'
        f"{escape(date_label(dt.datetime.fromtimestamp(t1, dt.UTC)))}</text>",
        f'<text x="{left}" y="11" font-size="10">{escape(unit)}</text>',
    ]
    for i, s in enumerate(drawn):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = sorted(s.points)
        coords = " ".join(f"{x(t.timestamp()):.1f},{y(v):.1f}" for t, v in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for t, v in pts:
            parts.append(
                f'<circle cx="{x(t.timestamp()):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(s.label)}: {escape(_fmt(v))} {escape(unit)}</title></circle>"
            )
        if len(drawn) > 1:
            parts.append(
                f'<text x="{width - right}" y="{11 + 0}" dx="{-70 * i}" text-anchor="end" font-size="10" '
                f'fill="{colour}">{escape(s.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped
