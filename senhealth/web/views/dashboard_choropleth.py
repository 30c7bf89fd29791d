"""A choropleth map of a province's communes as inline SVG, drawn on the server (no map library, no
tiles, no script): the shared helper of the dashboards under ``/dashboards/`` (docs/dashboards.md).

The communes' boundaries come pre-projected from :mod:`senhealth.core.geo` (SVG path data). Each commune
is one ``<path class="area qN" data-code="...">`` inside an ``<a>`` to its row in the table beside the
map (so Tab reaches every commune and Enter jumps to its numbers), with a ``<title>`` for hover and an
``aria-label`` for focus. Values are put in classes by fixed breaks (:func:`class_of`); colours live in
``static/dashboard.css`` (``.q0`` … ``.q4``, a colour-blind-safe sequential palette, ColorBrewer YlGnBu),
since the pages' Content Security Policy allows no inline style. A commune without data is hatched
(``.nodata``, an SVG pattern) and says so in its title. SVG 2 ``a`` and ``title``:
https://www.w3.org/TR/SVG2/linking.html#Links , https://www.w3.org/TR/SVG2/struct.html#TitleElement
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

from senhealth.core.geo import ProvinceMap

__all__ = ["CLASSES", "NO_DATA", "RATE_BREAKS", "Area", "LegendEntry", "choropleth_svg", "class_of", "legend"]

RATE_BREAKS: Final = (0.2, 0.4, 0.6, 0.8)
"""Class breaks of a rate (0–1): five classes of 20 points, the same every year (comparable maps)."""
CLASSES: Final = ("q0", "q1", "q2", "q3", "q4")
NO_DATA: Final = "nodata"
PATTERN_ID: Final = "choropleth-nodata"


@dataclass(frozen=True, slots=True)
class Area:
    """A commune's value (None: no data) and its hover/focus text."""

    code: str
    value: float | None
    title: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class LegendEntry:
    css: str
    label: str


def class_of(value: float | None, breaks: Sequence[float] = RATE_BREAKS) -> str:
    """The CSS class of ``value``: ``q0`` below the first break … ``q4`` from the last; ``nodata``."""
    if value is None:
        return NO_DATA
    return CLASSES[min(bisect_right(list(breaks), value), len(CLASSES) - 1)]


def legend(
    breaks: Sequence[float], label: Callable[[float | None, float | None], str], no_data: str
) -> list[LegendEntry]:
    """One entry per class (``label(low, high)``; ``low`` None for the first, ``high`` None for the
    last), then the no-data entry."""
    bounds: list[float | None] = [None, *breaks, None]
    out = [LegendEntry(CLASSES[i], label(bounds[i], bounds[i + 1])) for i in range(len(breaks) + 1)]
    return [*out, LegendEntry(NO_DATA, no_data)]


def choropleth_svg(
    province: ProvinceMap,
    areas: Mapping[str, Area],
    *,
    title: str,
    no_data_title: Callable[[str], str],
    breaks: Sequence[float] = RATE_BREAKS,
    labelled_by: str | None = None,
) -> Markup:
    """The ``<svg>`` of ``province``: every commune of the map, coloured by ``areas`` (by commune code;
    a commune not in ``areas`` is hatched with ``no_data_title(name)``)."""
    pad = 4
    label = f'aria-labelledby="{escape(labelled_by)}"' if labelled_by else f'aria-label="{escape(title)}"'
    parts = [
        f'<svg class="choropleth" viewBox="{-pad} {-pad} {province.width + 2 * pad} {province.height + 2 * pad}" '
        f'role="group" {label} xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="{PATTERN_ID}" patternUnits="userSpaceOnUse" width="7" height="7" '
        'patternTransform="rotate(45)"><rect width="7" height="7" fill="#f2f2f2"/>'
        '<line x1="0" y1="0" x2="0" y2="7" stroke="#9e9e9e" stroke-width="2.5"/></pattern></defs>',
        '<g class="areas">',
    ]
    for commune in province.communes:
        area = areas.get(commune.code)
        css = class_of(area.value if area else None, breaks)
        text = area.title if area else no_data_title(commune.name)
        href = (area.href if area else None) or f"#row-{commune.code}"
        parts.append(
            f'<a href="{escape(href)}" aria-label="{escape(text)}">'
            f'<path class="area {css}" data-code="{escape(commune.code)}" d="{escape(commune.path)}">'
            f"<title>{escape(text)}</title></path></a>"
        )
    parts.append("</g>")
    if province.outline:
        parts.append(f'<path class="outline" d="{escape(province.outline)}"/>')
    for inset in province.insets:
        parts.append(
            f'<rect class="inset" x="{inset.x}" y="{inset.y}" width="{inset.width}" height="{inset.height}"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped
