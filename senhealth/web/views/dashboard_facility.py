"""A facility manager's dashboard: ``GET /dashboards/facility/{id}?period=P[&format=csv|xlsx&table=NAME]``
(issue 11 build item 2; docs/web-dashboards.md).

The facility's numbers of the period from the indicator library (:data:`.dashboard_data.FACILITY_MEASURES`):
EMR adoption (encounters with a signed record), visits (the same encounters counted), referrals sent and
received, telemedicine volume, patients seen without a personal ID; each with its 12-period trend, and
the trend as a table (periods × measures); both tables download as CSV and XLSX.

Who: the facility's own administrator (``facility_admin`` whose facility is this Organization), and the
provincial roles for every facility; anyone else 403. ``id`` is the Organization's id.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.web.context import render
from senhealth.web.views.dashboard_charts import sparkline
from senhealth.web.views.dashboard_common import PROVINCIAL_ROLES, ask, base_context, exported, link, refuse
from senhealth.web.views.dashboard_data import (
    FACILITY_MEASURES,
    checkup_providers,
    facilities,
    measure_value,
    period_choices,
    results_for,
    trend,
)
from senhealth.web.views.dashboard_export import Column, Table
from senhealth.web.views.dashboard_text import MEASURE_TITLES, fmt_value, period_label, text_of

__all__ = ["ROUTES", "dashboard_facility"]


def _title(measure_id: str, lang: str) -> str:
    vi, en = MEASURE_TITLES[measure_id]
    return en if lang == "en" else vi


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


async def dashboard_facility(request: Request) -> Response:
    from senhealth.web.context import lang_of, require_staff, state

    found = await require_staff(request)
    tx = text_of(lang_of(request))
    org_id = str(request.path_params["id"])
    own = found.role == "facility_admin" and (found.facility or "").removeprefix("Organization/") == org_id
    if found.role not in PROVINCIAL_ROLES and not own:
        raise refuse(403, tx, "forbidden_facility" if found.role == "facility_admin" else "forbidden")
    everything = await facilities(state(request).fhir_store)
    facility = next((f for f in everything if f.id == org_id), None)
    if facility is None or not facility.province:
        raise refuse(404, tx, "no_facility")
    a = await ask(request, provincial=False, province=facility.province)
    providers = checkup_providers(a.store)
    results = await results_for(a.store, a.period, a.province, providers=providers)
    history = await trend(a.store, results, providers=providers)
    by_id = {r.indicator.id: r for r in results}

    summary = Table(
        "summary",
        a.tx["facility_caption"].format(period=period_label(a.period, a.lang)),
        [
            Column("measure", a.tx["code"]),
            Column("title", a.tx["indicator"]),
            Column("numerator", a.tx["numerator"], "count"),
            Column("denominator", a.tx["denominator"], "count"),
            Column("value", a.tx["value"], "text"),
        ],
    )
    trend_table = Table(
        "trend",
        a.tx["trend_caption"].format(title=facility.name),
        [
            Column("period", a.tx["period_col"]),
            *(Column(m.id, _title(m.id, a.lang), m.kind) for m in FACILITY_MEASURES),
        ],
    )
    cards = []
    for m in FACILITY_MEASURES:
        v = measure_value(m, by_id, facility.code)
        summary.add(
            [m.id, _title(m.id, a.lang), None if v is None else v.numerator, None if v is None else v.denominator,
             None if v is None else _number(v.value)],
            row_id=f"measure-{m.id}",
            kind=m.kind,
        )  # fmt: skip
        points = []
        for period_results in history:
            pv = measure_value(m, period_results, facility.code)
            value = None if pv is None else pv.value
            label = period_label(next(iter(period_results.values())).period, a.lang)
            points.append((label, value, fmt_value(value, m.kind, a.lang)))
        cards.append(
            {
                "id": m.id,
                "title": _title(m.id, a.lang),
                "value": v,
                "shown": a.tx["not_computed"] if v is None else fmt_value(v.value, m.kind, a.lang),
                "spark": sparkline(points, title=a.tx["trend_caption"].format(title=_title(m.id, a.lang))),
            }
        )
    for period_results in history:
        period = next(iter(period_results.values())).period
        values = [measure_value(m, period_results, facility.code) for m in FACILITY_MEASURES]
        trend_table.add(
            [period.id, *(None if v is None else _number(v.value) for v in values)],
            link=link(f"/dashboards/facility/{facility.id}", a, period=period.id),
        )
    tables = [summary, trend_table]
    download = exported(request, tables, f"facility-{facility.code}-{a.period.id}", a.tx)
    if download is not None:
        return download
    context = base_context(
        a,
        page_title=a.tx["facility_page"].format(name=facility.name),
        facility=facility,
        own_facility=own,
        choices=period_choices(a.period),
        cards=cards,
        tables=tables,
        query=a.query(),
        overview_href=None if own else link("/dashboards/", a),
        commune_href=None
        if own or not facility.commune
        else link(f"/dashboards/communes/{facility.commune}", a),
        period_label=period_label(a.period, a.lang),
    )
    return render(request, "dashboards/facility.html", context)


ROUTES: Final = [Route("/dashboards/facility/{id}", dashboard_facility, methods=["GET"])]
