"""The provincial health department's dashboards (issue 11 build item 2; docs/web-dashboards.md).

| route | what |
|---|---|
| ``GET /dashboards/?period=P&province=NN&map=ID`` | every indicator of the library for the period (month ``YYYYMM``, quarter ``YYYYQn``, year ``YYYY``) with its 12-period trend (SVG sparkline), a map per commune of one indicator (``map``), the same numbers as tables |
| ``GET /dashboards/indicators/{id}?period=&province=`` | one indicator: its trend (chart and table), its map per commune (when it has a commune breakdown), its rows (facilities link to their page, communes to theirs) |
| ``GET /dashboards/communes/{code}?period=&province=`` | a commune: the indicators that have a value there, their trend, its facilities (links to their page) |

Every table downloads as ``?format=csv|xlsx&table=NAME`` (the query of the page kept). Links keep the
period and province. The numbers are :mod:`.dashboard_data`'s (the indicator library, unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from senhealth.analytics.indicators import Indicator, IndicatorResult, get_indicator
from senhealth.web.context import render
from senhealth.web.views.dashboard_charts import sparkline
from senhealth.web.views.dashboard_common import (
    Ask,
    ask,
    base_context,
    commune_map,
    exported,
    link,
    province_map_of,
    refuse,
)
from senhealth.web.views.dashboard_data import (
    Area,
    Facility,
    Value,
    area_value,
    checkup_providers,
    commune_values,
    facilities,
    mappable,
    period_choices,
    results_for,
    trend,
)
from senhealth.web.views.dashboard_export import Column, Table
from senhealth.web.views.dashboard_text import MEASURE_TITLES, fmt_value, indicator_title, period_label

__all__ = ["ROUTES", "dashboard_commune", "dashboard_indicator", "dashboard_overview"]


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


async def _computed(a: Ask) -> tuple[list[IndicatorResult], list[dict[str, IndicatorResult]], list[Facility]]:
    providers = checkup_providers(a.store)
    results = await results_for(a.store, a.period, a.province, providers=providers)
    history = await trend(a.store, results, providers=providers)
    return results, history, await facilities(a.store, province=a.province)


def _spark(
    a: Ask,
    indicator: Indicator,
    history: Sequence[Mapping[str, IndicatorResult]],
    area: Area,
    *,
    axis: bool = False,
) -> Any:
    points = []
    for by_id in history:
        result = by_id[indicator.id]
        v = area_value(result, area)
        value = None if v is None else v.value
        points.append((period_label(result.period, a.lang), value, fmt_value(value, indicator.kind, a.lang)))
    title = a.tx["trend_caption"].format(title=indicator_title(indicator, a.lang))
    return sparkline(points, title=title, width=560 if axis else 240, height=180 if axis else 56, axis=axis)


def _summary(
    a: Ask, results: Sequence[IndicatorResult], area: Area, area_name: str
) -> tuple[Table, list[dict[str, Any]]]:
    """The indicators of ``area`` as a table (and the cards' data)."""
    table = Table(
        "summary",
        a.tx["summary_caption"].format(area=area_name, period=period_label(a.period, a.lang)),
        [
            Column("indicator", a.tx["code"]),
            Column("version", a.tx["version"]),
            Column("title", a.tx["indicator"]),
            Column("numerator", a.tx["numerator"], "count"),
            Column("denominator", a.tx["denominator"], "count"),
            Column("value", a.tx["value"], "text"),
        ],
    )
    cards = []
    for r in results:
        ind = r.indicator
        v = area_value(r, area)
        if v is None and area.kind != "province":
            continue
        table.add(
            [
                ind.id,
                ind.version,
                indicator_title(ind, a.lang),
                None if v is None else v.numerator,
                None if v is None else v.denominator,
                None if v is None else _number(v.value),
            ],
            link=link(f"/dashboards/indicators/{ind.id}", a),
            row_id=f"ind-{ind.id}",
            kind=ind.kind,
        )
        cards.append(
            {
                "id": ind.id,
                "title": indicator_title(ind, a.lang),
                "kind": ind.kind,
                "value": v,
                "shown": a.tx["not_computed"] if v is None else fmt_value(v.value, ind.kind, a.lang),
                "href": link(f"/dashboards/indicators/{ind.id}", a),
                "version": ind.version,
                "mappable": mappable(ind),
            }
        )
    return table, cards


def _commune_table(
    a: Ask, indicator: Indicator, values: Mapping[str, Value], names: Mapping[str, str]
) -> Table:
    table = Table(
        "communes",
        a.tx["map_of"].format(
            indicator=indicator_title(indicator, a.lang), period=period_label(a.period, a.lang)
        ),
        [
            Column("commune_code", a.tx["code"]),
            Column("commune_name", a.tx["commune"]),
            Column("numerator", a.tx["numerator"], "count"),
            Column("denominator", a.tx["denominator"], "count"),
            Column("value", a.tx["value"], indicator.kind if indicator.kind != "count" else "count"),
        ],
    )
    for code in sorted(values, key=lambda c: (names.get(c, c).casefold(), c)):
        v = values[code]
        table.add(
            [code, names.get(code, code), v.numerator, v.denominator, _number(v.value)],
            link=link(f"/dashboards/communes/{code}", a),
            row_id=f"row-{code}",
        )
    return table


def _map(
    a: Ask, indicator: Indicator, result: IndicatorResult, facility_list: Sequence[Facility]
) -> tuple[Any, Table]:
    pmap = province_map_of(a.province, a.tx)
    values = commune_values(result, facility_list)
    title = a.tx["map_of"].format(
        indicator=indicator_title(indicator, a.lang), period=period_label(a.period, a.lang)
    )
    view = commune_map(
        pmap,
        indicator,
        values,
        title=title,
        href=lambda code: link(f"/dashboards/communes/{code}", a),
        lang=a.lang,
        tx=a.tx,
    )
    return view, _commune_table(a, indicator, values, {c.code: c.name for c in pmap.communes})


async def dashboard_overview(request: Request) -> Response:
    from senhealth.web.context import require_staff

    found = await require_staff(request)
    if found.role == "facility_admin" and found.facility:  # the administrator's own page
        target = f"/dashboards/facility/{found.facility.removeprefix('Organization/')}"
        if request.url.query:
            target += f"?{request.url.query}"
        return RedirectResponse(target, status_code=303)
    a = await ask(request)
    results, history, facility_list = await _computed(a)
    province_area = Area("province", a.province)
    pmap = province_map_of(a.province, a.tx)
    summary, cards = _summary(a, results, province_area, pmap.name)
    for card, r in zip(cards, results, strict=True):
        card["spark"] = _spark(a, r.indicator, history, province_area)
    candidates = [r for r in results if mappable(r.indicator) and r.available]
    asked = request.query_params.get("map")
    chosen = next((r for r in candidates if r.indicator.id == asked), candidates[0] if candidates else None)
    tables = [summary]
    view = None
    if chosen is not None:
        view, communes = _map(a, chosen.indicator, chosen, facility_list)
        tables.append(communes)
    download = exported(request, tables, f"dashboard-{a.province}-{a.period.id}", a.tx)
    if download is not None:
        return download
    context = base_context(
        a,
        page_title=a.tx["overview"],
        province_name=pmap.name,
        choices=period_choices(a.period),
        cards=cards,
        tables=tables,
        map=view,
        map_choices=[(r.indicator.id, indicator_title(r.indicator, a.lang)) for r in candidates],
        map_indicator=chosen.indicator.id if chosen else None,
        query=a.query(**({"map": chosen.indicator.id} if chosen else {})),
        bct_href=f"/dashboards/reports/14bct?year={a.period.year}&month={a.period.start.month}&province={a.province}",
        scheduled_href="/dashboards/reports/scheduled",
        period_label=period_label(a.period, a.lang),
    )
    return render(request, "dashboards/overview.html", context)


async def dashboard_indicator(request: Request) -> Response:
    a = await ask(request)
    try:
        indicator = get_indicator(str(request.path_params["indicator"]))
    except KeyError:
        raise refuse(404, a.tx, "bad_indicator") from None
    results, history, facility_list = await _computed(a)
    result = next(r for r in results if r.indicator.id == indicator.id)
    province_area = Area("province", a.province)
    trend_table = Table(
        "trend",
        a.tx["trend_caption"].format(title=indicator_title(indicator, a.lang)),
        [
            Column("period", a.tx["period_col"]),
            Column("numerator", a.tx["numerator"], "count"),
            Column("denominator", a.tx["denominator"], "count"),
            Column("value", a.tx["value"], indicator.kind),
        ],
    )
    for by_id in history:
        r = by_id[indicator.id]
        v = area_value(r, province_area)
        trend_table.add(
            [
                r.period.id,
                None if v is None else v.numerator,
                None if v is None else v.denominator,
                None if v is None else _number(v.value),
            ],
            link=link(f"/dashboards/indicators/{indicator.id}", a, period=r.period.id),
        )
    by_code = {f.code: f for f in facility_list}
    extra_keys = sorted({k for row in result.rows for k in row.extra})
    rows_table = Table(
        "rows",
        a.tx["rows_caption"].format(
            indicator=indicator_title(indicator, a.lang), period=period_label(a.period, a.lang)
        ),
        [
            Column("key", a.tx["key"]),
            Column("label", a.tx["label"]),
            Column("numerator", a.tx["numerator"], "count"),
            Column("denominator", a.tx["denominator"], "count"),
            Column("value", a.tx["value"], indicator.kind),
            *(Column(k, k, "count") for k in extra_keys),
        ],
    )
    pmap = province_map_of(a.province, a.tx)
    names = {c.code: c.name for c in pmap.communes}
    for row in result.rows:
        href = None
        label = row.label
        if indicator.dimension == "facility" and row.key in by_code:
            href = link(f"/dashboards/facility/{by_code[row.key].id}", a)
        elif indicator.dimension == "commune" and row.key in names:
            href = link(f"/dashboards/communes/{row.key}", a)
            label = names[row.key] if label in ("", row.key) else label
        rows_table.add(
            [
                row.key,
                label,
                row.numerator,
                row.denominator,
                _number(row.value),
                *(row.extra.get(k) for k in extra_keys),
            ],
            link=href,
        )
    tables = [rows_table, trend_table]
    view = None
    if mappable(indicator) and result.available:
        view, communes = _map(a, indicator, result, facility_list)
        tables.append(communes)
    download = exported(request, tables, f"{indicator.id}-{a.province}-{a.period.id}", a.tx)
    if download is not None:
        return download
    total = area_value(result, province_area)
    context = base_context(
        a,
        page_title=indicator_title(indicator, a.lang),
        indicator=indicator,
        province_name=pmap.name,
        choices=period_choices(a.period),
        total=total,
        total_shown=a.tx["not_computed"] if total is None else fmt_value(total.value, indicator.kind, a.lang),
        chart=_spark(a, indicator, history, province_area, axis=True),
        tables=tables,
        map=view,
        query=a.query(),
        overview_href=link("/dashboards/", a),
        period_label=period_label(a.period, a.lang),
    )
    return render(request, "dashboards/indicator.html", context)


async def dashboard_commune(request: Request) -> Response:
    a = await ask(request)
    code = str(request.path_params["code"])
    pmap = province_map_of(a.province, a.tx)
    commune = pmap.commune(code)
    if commune is None:
        raise refuse(404, a.tx, "no_commune")
    results, history, facility_list = await _computed(a)
    own = [f for f in facility_list if f.commune == code]
    area = Area("commune", code, frozenset(f.code for f in own))
    summary, cards = _summary(a, results, area, commune.name)
    by_id = {r.indicator.id: r for r in results}
    for card in cards:
        card["spark"] = _spark(a, get_indicator(card["id"]), history, area)
    facility_table = Table(
        "facilities",
        a.tx["facilities"],
        [
            Column("facility_code", a.tx["code"]),
            Column("facility_name", a.tx["facility"]),
            Column("visits", MEASURE_TITLES["visits"][1 if a.lang == "en" else 0], "count"),
            Column("emr_adoption", indicator_title(get_indicator("emr-adoption"), a.lang), "ratio"),
        ],
    )
    for f in own:
        v = area_value(by_id["emr-adoption"], Area("facility", f.code))
        facility_table.add(
            [f.code, f.name, None if v is None else v.denominator, None if v is None else _number(v.value)],
            link=link(f"/dashboards/facility/{f.id}", a),
            row_id=f"facility-{f.code}",
        )
    tables = [summary, facility_table]
    download = exported(request, tables, f"commune-{code}-{a.period.id}", a.tx)
    if download is not None:
        return download
    context = base_context(
        a,
        page_title=a.tx["commune_page"].format(name=commune.name),
        commune=commune,
        province_name=pmap.name,
        choices=period_choices(a.period),
        cards=cards,
        tables=tables,
        query=a.query(),
        overview_href=link("/dashboards/", a),
        period_label=period_label(a.period, a.lang),
    )
    return render(request, "dashboards/commune.html", context)


ROUTES: Final = [
    Route("/dashboards/", dashboard_overview, methods=["GET"]),
    Route("/dashboards/indicators/{indicator}", dashboard_indicator, methods=["GET"]),
    Route("/dashboards/communes/{code}", dashboard_commune, methods=["GET"]),
]
