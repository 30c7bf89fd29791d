"""Sparklines of the dashboards' trends as inline SVG, drawn on the server (no chart library, no script).

One polyline over the periods (a gap where a period has no value), a dot on the last value, and a
``<title>`` on every point (hover and screen readers read the period and its value). Colours are CSS
classes (``static/dashboard-pages.css``): the pages' Content Security Policy allows no inline style.
SVG 1.1 polyline: https://www.w3.org/TR/SVG11/shapes.html#PolylineElement
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["sparkline"]


def sparkline(
    points: Sequence[tuple[str, float | None, str]],
    *,
    title: str,
    width: int = 240,
    height: int = 56,
    axis: bool = False,
) -> Markup:
    """``points``: (period label, value or None, value as shown), oldest first. ``axis``: a larger chart
    with the lowest and highest value and the first and last period written on it."""
    known = [v for _, v, _ in points if v is not None]
    left, right, top, bottom = (44, 8, 10, 20) if axis else (3, 3, 4, 4)
    plot_w, plot_h = width - left - right, height - top - bottom
    v0, v1 = (min(known), max(known)) if known else (0.0, 1.0)
    if v0 > 0:
        v0 = 0.0  # bars of meaning: counts and rates start at zero
    if v1 == v0:
        v1 = v0 + 1
    step = plot_w / max(1, len(points) - 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + (1 - (v - v0) / (v1 - v0)) * plot_h

    parts = [
        f'<svg class="sparkline{" trend-chart" if axis else ""}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line class="baseline" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>',
    ]
    if axis and points:
        shown = {v: s for _, v, s in points if v is not None}
        high = shown.get(max(known)) if known else ""
        parts += [
            f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{escape(high or "")}</text>',
            f'<text x="{left}" y="{height - 5}">{escape(points[0][0])}</text>',
            f'<text x="{left + plot_w}" y="{height - 5}" text-anchor="end">{escape(points[-1][0])}</text>',
        ]
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v, _) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline class="line" points="{" ".join(seg)}"/>')
    for i, (label, v, shown_value) in enumerate(points):
        if v is None:
            continue
        css = "point last" if i == len(points) - 1 else "point"
        parts.append(
            f'<circle class="{css}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="{3 if axis else 2}">'
            f"<title>{escape(label)}: {escape(shown_value)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped
