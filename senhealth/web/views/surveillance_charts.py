"""The CDC pages' pictures as inline SVG drawn on the server: the epidemic curve with its endemic channel and
the detector's threshold, and the incidence map of a province's communes (the no-script map of the web
page and the map of the PDF bulletin).

No library and no script: a few hundred bytes of markup per week, readable on a slow connection and by
WeasyPrint. Colours are SVG presentation attributes (``fill``, ``stroke``): the pages' Content Security
Policy forbids inline ``style``, not presentation attributes, and WeasyPrint's SVG renderer reads them
without the page's stylesheet. Every text is escaped. SVG 1.1 shapes and painting:
https://www.w3.org/TR/SVG11/shapes.html , https://www.w3.org/TR/SVG11/painting.html
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from senhealth.core.geo import ProvinceMap
from senhealth.core.geo.geojson import centroid, path_rings
from senhealth.web.views.dashboard_choropleth import CLASSES, NO_DATA, class_of
from senhealth.web.views.surveillance_data import INCIDENCE_BREAKS, Curve

__all__ = ["FILLS", "CurveText", "MapArea", "epidemic_curve_svg", "incidence_map_svg"]

#: ColorBrewer YlGnBu, 5 classes (colour-blind safe), as ``static/dashboard.css`` colours them.
FILLS: Final = dict(zip(CLASSES, ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"), strict=True))
_PATTERN: Final = "surveillance-nodata"


@dataclass(frozen=True, slots=True)
class CurveText:
    """The curve's words in the page's language."""

    title: str
    cases: str
    channel: str
    mean: str
    threshold: str
    week: str


def _num(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def epidemic_curve_svg(
    curve: Curve,
    text: CurveText,
    *,
    alert_week: str | None = None,
    threshold: float | None = None,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Weekly cases as bars over the endemic channel (a band from its lower to its upper line, the mean
    dashed), the alert's week outlined and the detector's threshold of that week as a red tick."""
    n = len(curve.labels)
    left, right, top, bottom = 40, 10, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    tops = [*curve.observed, *(curve.upper or ()), threshold or 0, 1]
    ymax = max(tops)
    step = (
        1
        if ymax <= 5
        else 2
        if ymax <= 10
        else 5
        if ymax <= 25
        else 10
        if ymax <= 50
        else 25
        if ymax <= 125
        else 100
    )
    ymax = step * (int(ymax // step) + 1)
    bw = plot_w / n

    def x(i: float) -> float:
        return left + i * bw

    def y(v: float) -> float:
        return top + plot_h - max(0.0, v) / ymax * plot_h

    parts = [
        f'<svg class="epi-curve" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(text.title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(text.title)}</title>",
    ]
    tick = 0
    while tick <= ymax:
        parts.append(
            f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" text-anchor="end" font-size="10" fill="#444">{tick}</text>'
        )
        tick += step
    if curve.lower is not None and curve.upper is not None and curve.centre is not None:
        upper = [f"{x(i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(curve.upper)]
        lower = [f"{x(i + 0.5):.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(curve.lower)))]
        parts.append(
            f'<polygon class="channel" points="{" ".join(upper + lower)}" fill="#fde2b8" stroke="#e8a33d" '
            f'stroke-width="1"><title>{escape(text.channel)}</title></polygon>'
        )
        mean = " ".join(f"{x(i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(curve.centre))
        parts.append(
            f'<polyline class="channel-mean" points="{mean}" fill="none" stroke="#b26b00" stroke-width="1.2" '
            f'stroke-dasharray="4 3"><title>{escape(text.mean)}</title></polyline>'
        )
    for i, value in enumerate(curve.observed):
        label = curve.labels[i]
        alarm = label == alert_week
        parts.append(
            f'<rect class="bar{" alert-week" if alarm else ""}" data-week="{escape(label)}" data-cases="{value}" '
            f'x="{x(i) + 0.8:.1f}" y="{y(value):.1f}" width="{max(bw - 1.6, 0.5):.1f}" '
            f'height="{y(0) - y(value):.1f}" fill="{"#b3261e" if alarm else "#1f5fa8"}">'
            f"<title>{escape(text.week)} {escape(label)}: {value} {escape(text.cases)}</title></rect>"
        )
    if alert_week is not None and (at := curve.row(alert_week)) is not None:
        i = at
        parts.append(
            f'<rect x="{x(i):.1f}" y="{top}" width="{bw:.1f}" height="{plot_h}" fill="none" stroke="#b3261e" '
            'stroke-width="1" stroke-dasharray="2 2"/>'
        )
        if threshold is not None:
            parts.append(
                f'<line class="threshold" x1="{x(i) - bw:.1f}" y1="{y(threshold):.1f}" x2="{x(i) + 2 * bw:.1f}" '
                f'y2="{y(threshold):.1f}" stroke="#b3261e" stroke-width="2.5"><title>{escape(text.threshold)}: '
                f"{escape(_num(threshold))}</title></line>"
                f'<text x="{x(i) + 2 * bw + 3:.1f}" y="{y(threshold) + 3:.1f}" font-size="10" fill="#b3261e">'
                f"{escape(text.threshold)} {escape(_num(threshold))}</text>"
            )
    parts.append(
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}" stroke="#666"/>'
        f'<text x="{left}" y="12" font-size="10" fill="#444">{escape(text.cases)}</text>'
    )
    for i, label in enumerate(curve.labels):
        if i == 0 or (i + 1) % 4 == 0:
            parts.append(
                f'<text x="{x(i + 0.5):.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="9" '
                f'fill="#444">{escape(label[-3:])}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end" font-size="10" fill="#444">'
        f"{escape(text.week)} ({curve.year})</text></svg>"
    )
    return Markup("".join(parts))  # every text above is escaped


@dataclass(frozen=True, slots=True)
class MapArea:
    """A commune's incidence per 100,000 (None: no population figure) and its hover text."""

    code: str
    rate: float | None
    title: str


def incidence_map_svg(
    province: ProvinceMap,
    areas: Mapping[str, MapArea],
    *,
    title: str,
    signals: Collection[str] = (),
    signal_title: str = "",
    link_rows: bool = True,
    breaks: Sequence[float] = INCIDENCE_BREAKS,
) -> Markup:
    """The communes of ``province`` filled by their incidence class (``q0``–``q4``; hatched without a
    population figure), the communes of ``signals`` outlined in red with a marker at their centre."""
    pad = 4
    parts = [
        f'<svg class="incidence-map" viewBox="{-pad} {-pad} {province.width + 2 * pad} '
        f'{province.height + 2 * pad}" role="group" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="{_PATTERN}" patternUnits="userSpaceOnUse" width="7" height="7" '
        'patternTransform="rotate(45)"><rect width="7" height="7" fill="#f2f2f2"/>'
        '<line x1="0" y1="0" x2="0" y2="7" stroke="#9e9e9e" stroke-width="2.5"/></pattern></defs><g class="areas">',
    ]
    marks = []
    for commune in province.communes:
        area = areas.get(commune.code)
        css = class_of(area.rate if area else None, breaks)
        fill = f"url(#{_PATTERN})" if css == NO_DATA else FILLS[css]
        text = area.title if area else commune.name
        signal = commune.code in signals
        path = (
            f'<path class="area {css}{" signal" if signal else ""}" data-code="{escape(commune.code)}" '
            f'd="{escape(commune.path)}" fill="{fill}" stroke="#ffffff" stroke-width="0.6">'
            f"<title>{escape(text)}</title></path>"
        )
        if link_rows:
            path = f'<a href="#row-{escape(commune.code)}" aria-label="{escape(text)}">{path}</a>'
        parts.append(path)
        if signal:
            point = centroid(path_rings(commune.path))
            if point is not None:
                marks.append(
                    f'<path d="{escape(commune.path)}" fill="none" stroke="#b3261e" stroke-width="3"/>'
                    f'<circle class="signal-marker" data-code="{escape(commune.code)}" cx="{point[0]}" '
                    f'cy="{-point[1]}" r="9" fill="#b3261e" stroke="#ffffff" stroke-width="2">'
                    f"<title>{escape(commune.name)}: {escape(signal_title)}</title></circle>"
                )
    parts.append("</g>")
    if province.outline:
        parts.append(f'<path class="outline" d="{escape(province.outline)}" fill="none" stroke="#333333"/>')
    parts.extend(marks)
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped
