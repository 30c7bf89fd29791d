"""The weekly surveillance bulletin as PDF: ``GET /app/surveillance/bulletin?week=2026-W07`` (issue 8 build
item 5; docs/web-surveillance.md).

``?week=YYYY-Www`` (default: last week) ``&province=NN`` (default: the province of most open alerts, else of
most cases) ``&disease=dengue`` (the map's disease) ``&lang=en``: an A4 PDF made with WeasyPrint (:func:`senhealth.emr.printing.render.html_to_pdf`: nothing is
fetched, the page is self-contained) holding

1. cases by disease in the province this week against the endemic channel of that week
   (:func:`.surveillance_data.curve`: mean ± 2 SD of the same weeks of up to 5 earlier years), with the last
   4 weeks' cases, for every notifiable disease with a case this year;
2. the map of the disease's incidence per 100,000 over the 4 weeks ending with the week
   (:func:`.surveillance_charts.incidence_map_svg`, colours as attributes: WeasyPrint draws inline SVG);
3. the open alerts of the province (read through the FHIR API as the user).

Only aggregates and the alerts: no person is named, so the provincial officer prints it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.core.geo import province_codes, province_map
from senhealth.emr.printing.render import html_to_pdf
from senhealth.surveillance.series import iso_label, parse_iso_week, week_start
from senhealth.web.context import fhir, state, t
from senhealth.web.views.dashboard_choropleth import legend
from senhealth.web.views.surveillance_charts import FILLS, MapArea, incidence_map_svg
from senhealth.web.views.surveillance_common import decimal, refusal, surveillance_user
from senhealth.web.views.surveillance_data import (
    INCIDENCE_BREAKS,
    busiest_province,
    cases_by_disease,
    curve,
    disease_by_key,
    incidence,
    open_alerts,
    province_of_area,
)

__all__ = ["ROUTES", "BulletinRow", "bulletin"]

MAP_WEEKS: Final = 4


@dataclass(frozen=True, slots=True)
class BulletinRow:
    key: str
    name: str
    group: str
    cases: int
    last_4: int
    mean: float | None
    upper: float | None

    @property
    def above(self) -> bool:
        return self.upper is not None and self.cases > self.upper


async def bulletin(request: Request) -> Response:
    found, lang, tx = await surveillance_user(request)
    params = request.query_params
    today = dt.date.today()
    monday = week_start(today) - dt.timedelta(days=7)
    if params.get("week"):
        try:
            monday = parse_iso_week(str(params.get("week")))
        except (ValueError, IndexError):
            raise refusal(400, tx, "bad_week") from None
    province = params.get("province") or None
    if province is not None and province not in province_codes():
        raise refusal(400, tx, "bad_province")
    map_disease = disease_by_key(params.get("disease") or "dengue", monday)
    if map_disease is None:
        raise refusal(400, tx, "bad_disease")
    week = iso_label(monday)
    year = monday.isocalendar().year
    async with fhir(request, found) as client:
        alerts = await open_alerts(client)
    rows: list[BulletinRow] = []
    async with transaction() as conn:
        code = province or await busiest_province(conn, alerts)
        if code is None:
            raise refusal(404, tx, "no_map")
        first = dt.date.fromisocalendar(year, 1, 1)
        counts = await cases_by_disease(
            conn, code, first=min(first, monday - dt.timedelta(days=21)), last=monday
        )
        recent = {iso_label(monday - dt.timedelta(days=7 * i)) for i in range(4)}
        for key in sorted(counts):
            disease = disease_by_key(key, monday)
            by_week = counts[key]
            if disease is None or not any(
                n for w, n in by_week.items() if w.startswith(str(year)) or w in recent
            ):
                continue
            the_curve = await curve(conn, key, code, year, through=monday)
            at = the_curve.row(week)
            mean = the_curve.centre[at] if the_curve.centre is not None and at is not None else None
            upper = the_curve.upper[at] if the_curve.upper is not None and at is not None else None
            rows.append(
                BulletinRow(
                    key, disease.name(lang), disease.group, by_week.get(week, 0),
                    sum(n for w, n in by_week.items() if w in recent), mean, upper,
                )
            )  # fmt: skip
        communes = await incidence(conn, map_disease.key, code, end=monday, weeks=MAP_WEEKS)
    rows.sort(key=lambda r: (not r.above, -r.cases, r.name))
    pmap = province_map(code)
    mine = [a for a in alerts if province_of_area(a.area) == code]
    map_title = tx["map_title"].format(disease=map_disease.name(lang), weeks=MAP_WEEKS, week=week)
    areas = {r.code: MapArea(r.code, r.rate, f"{r.name}: {decimal(r.rate, lang)}") for r in communes}
    svg = incidence_map_svg(
        pmap,
        areas,
        title=map_title,
        signals={a.area for a in mine},
        signal_title=tx["signal_here"],
        link_rows=False,
    )
    top = sorted((r for r in communes if r.cases), key=lambda r: (-(r.rate or 0), -r.cases, r.code))[:10]
    tr = t(request)
    context = {
        "L": tx,
        "lang": lang,
        "week": week,
        "period": tx["bulletin_period"].format(
            start=tr.date(monday), end=tr.date(monday + dt.timedelta(days=6)), province=pmap.name
        ),
        "rows": rows,
        "fmt": lambda v: decimal(v, lang),
        "map": svg,
        "map_title": map_title,
        "legend": [
            (FILLS.get(e.css, "#f2f2f2"), e.label)
            for e in legend(
                INCIDENCE_BREAKS,
                lambda lo, hi: (
                    f"< {decimal(hi, lang)}"
                    if lo is None
                    else f"≥ {decimal(lo, lang)}"
                    if hi is None
                    else f"{decimal(lo, lang)} – < {decimal(hi, lang)}"
                ),
                tx["no_data"],
            )
        ],
        "top": top,
        "alerts": mine,
        "generated": tx["generated"].format(
            when=tr.datetime(dt.datetime.now(dt.UTC)), who=found.display_name or found.username
        ),
    }
    html = state(request).env.get_template("surveillance/bulletin.html").render(context)
    pdf, _pages = await asyncio.to_thread(html_to_pdf, html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="bulletin-{week}-{code}.pdf"'},
    )


ROUTES: Final = [Route("/app/surveillance/bulletin", bulletin, methods=["GET"])]
