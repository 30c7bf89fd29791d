"""What the province's dashboards share: who may see them, the period and province of a request, links
that keep the period, the map of a commune-level indicator, the downloads of a page's tables.

Who: the provincial roles (provincial health officer, CDC officer, data analyst:
:data:`senhealth.web.views.dashboard_checkup.PROVINCIAL_ROLES`) see every page; a facility administrator
sees their own facility's page (``/dashboards/facility/{id}``; the overview sends them there); everyone
else gets 403; without a session, the sign-in page and back (``?next=``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from senhealth.analytics.indicators import Indicator, Period, parse_period
from senhealth.analytics.reports.bct14 import default_province
from senhealth.core.geo import ProvinceMap, province_map
from senhealth.fhir.store import FhirStore
from senhealth.web.context import PageError, lang_of, require_staff, state
from senhealth.web.sessions import Session
from senhealth.web.views.dashboard_checkup import PROVINCIAL_ROLES
from senhealth.web.views.dashboard_choropleth import RATE_BREAKS, Area, LegendEntry, choropleth_svg, legend
from senhealth.web.views.dashboard_data import Value, default_period
from senhealth.web.views.dashboard_export import FORMATS, Table, download
from senhealth.web.views.dashboard_text import fmt_value, text_of

__all__ = [
    "CSS",
    "PROVINCIAL_ROLES",
    "Ask",
    "MapView",
    "ask",
    "commune_map",
    "exported",
    "link",
    "refuse",
]

CSS: Final = ("/static/web/dashboard.css", "/static/web/dashboard-pages.css")


def refuse(status: int, tx: Mapping[str, str], key: str) -> PageError:
    return PageError(status, tx[key])


@dataclass(frozen=True, slots=True)
class Ask:
    """A dashboard request: who, in which language, for which period and province."""

    session: Session
    lang: str
    tx: Mapping[str, str]
    period: Period
    province: str
    store: FhirStore

    def query(self, **more: str) -> dict[str, str]:
        """The query that keeps the period and province (and the language when asked for)."""
        return {"period": self.period.id, "province": self.province, **more}


def link(path: str, ask: Ask, **more: str) -> str:
    return f"{path}?{urlencode(ask.query(**more))}"


async def ask(request: Request, *, provincial: bool = True, province: str | None = None) -> Ask:
    """The signed-in user (provincial roles unless ``provincial`` is False), period and province."""
    found = await require_staff(request)
    lang = lang_of(request)
    tx = text_of(lang)
    if provincial and found.role not in PROVINCIAL_ROLES:
        raise refuse(403, tx, "forbidden")
    params = request.query_params
    try:
        period = parse_period(params["period"]) if params.get("period") else default_period()
    except ValueError:
        raise refuse(400, tx, "bad_period") from None
    store: FhirStore = state(request).fhir_store
    code = province or params.get("province") or ""
    if code:
        if len(code) != 2 or not code.isdigit():
            raise refuse(400, tx, "bad_province")
    else:
        code = await default_province(store.pool) or ""
        if not code:
            raise refuse(404, tx, "no_province")
    return Ask(found, lang, tx, period, code, store)


def exported(
    request: Request, tables: Sequence[Table], filename: str, tx: Mapping[str, str]
) -> Response | None:
    """The table ``?table=NAME`` as ``?format=csv|xlsx`` when asked for; None for the page itself."""
    fmt = request.query_params.get("format")
    if not fmt:
        return None
    if fmt not in FORMATS:
        raise refuse(400, tx, "bad_format")
    name = request.query_params.get("table") or tables[0].name
    chosen = next((t for t in tables if t.name == name), None)
    if chosen is None:
        raise refuse(400, tx, "bad_table")
    return download(chosen, fmt, f"{filename}-{chosen.name}")


def province_map_of(code: str, tx: Mapping[str, str]) -> ProvinceMap:
    try:
        return province_map(code)
    except KeyError:
        raise refuse(400, tx, "bad_province") from None


@dataclass(frozen=True, slots=True)
class MapView:
    svg: Markup
    legend: list[LegendEntry]
    title: str


def _breaks(kind: str, values: Sequence[float]) -> tuple[float, ...]:
    if kind == "ratio":
        return RATE_BREAKS
    top = max([*values, 1.0])
    return tuple(top * k / 5 for k in (1, 2, 3, 4))


def commune_map(
    pmap: ProvinceMap,
    indicator: Indicator,
    values: Mapping[str, Value],
    *,
    title: str,
    href: Callable[[str], str],
    lang: str,
    tx: Mapping[str, str],
) -> MapView:
    """The choropleth of ``values`` (by commune code) over ``pmap``; each commune links to ``href(code)``."""
    names = {c.code: c.name for c in pmap.communes}
    breaks = _breaks(indicator.kind, [v.value for v in values.values() if v.value is not None])
    areas = {}
    for code, v in values.items():
        if code not in names:
            continue
        counts = f" ({v.numerator}/{v.denominator})" if v.denominator is not None else ""
        text = f"{names[code]}: {fmt_value(v.value, indicator.kind, lang)}{counts}"
        areas[code] = Area(code, v.value, text, href(code))
    svg = choropleth_svg(
        pmap,
        areas,
        title=title,
        no_data_title=lambda n: tx["no_data_of"].format(name=n),
        breaks=breaks,
        labelled_by="map-title",
    )

    def bound(value: float) -> str:
        return fmt_value(
            value, indicator.kind if indicator.kind != "count" else "per100k", lang
        ).removesuffix(",0")

    def band(low: float | None, high: float | None) -> str:
        if low is None and high is not None:
            return tx["below"].format(high=bound(high))
        if high is None and low is not None:
            return tx["from"].format(low=bound(low))
        assert low is not None and high is not None
        return tx["from_to"].format(low=bound(low), high=bound(high))

    return MapView(svg, legend(breaks, band, tx["no_data"]), title)


def show(value: object, kind: str, lang: str) -> str:
    """A table cell as the page shows it."""
    if value is None:
        return "–"
    if kind == "text" or not isinstance(value, (int, float)):
        return str(value)
    return fmt_value(float(value), kind, lang)


def base_context(a: Ask, **more: Any) -> dict[str, Any]:
    return {
        "css_files": CSS,
        "L": a.tx,
        "period": a.period,
        "province": a.province,
        "show": lambda value, kind: show(value, kind, a.lang),
        **more,
    }
