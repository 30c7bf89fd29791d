"""The outbreak map: ``GET /app/surveillance/map`` and its data ``GET /app/surveillance/map.geojson``
(issue 8 build item 5; docs/web-surveillance.md).

``?disease=dengue&weeks=4&end=2026-W07&province=NN&lang=en``: incidence per 100,000 of a notifiable disease
in each commune of a province over the ``weeks`` ISO weeks ending with ``end`` (default: this week), the
communes with an open alert marked. The page draws the map on the server first (SVG,
:func:`.surveillance_charts.incidence_map_svg`: it works without script and on a slow connection); the
script ``static/surveillance-map.js`` then replaces it by a Leaflet map (https://leafletjs.com/, vendored,
no tiles: a blank background with the province's outline, planar map units, ``L.CRS.Simple``) fed by the
GeoJSON of :func:`senhealth.core.geo.geojson.province_geojson` with the same numbers in each Feature's
properties. The table below the map has the same numbers (its text alternative).

Province: ``province``, else the one of most open alerts, else of most cases. Numbers:
:func:`.surveillance_data.incidence` (cases summed from the weekly series, the population's latest figure
up to the year).
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.core.geo import ProvinceMap, province_codes, province_map
from senhealth.core.geo.geojson import province_geojson
from senhealth.surveillance.alerts import Alert
from senhealth.surveillance.series import iso_label, parse_iso_week, week_start
from senhealth.web.context import fhir, render
from senhealth.web.views.dashboard_choropleth import class_of, legend
from senhealth.web.views.surveillance_charts import MapArea, incidence_map_svg
from senhealth.web.views.surveillance_common import CSS, decimal, refusal, surveillance_user
from senhealth.web.views.surveillance_data import (
    INCIDENCE_BREAKS,
    CommuneIncidence,
    busiest_province,
    disease_by_key,
    diseases,
    incidence,
    open_alerts,
    province_of_area,
)

__all__ = ["ROUTES", "MapQuery", "map_geojson", "map_page", "map_query"]

DEFAULT_DISEASE: Final = "dengue"
DEFAULT_WEEKS: Final = 4


@dataclass(frozen=True, slots=True)
class MapQuery:
    disease: str
    weeks: int
    end: dt.date  # the Monday of the last week
    province: str | None

    @property
    def end_label(self) -> str:
        return iso_label(self.end)

    def query(self, **more: str) -> str:
        values = {"disease": self.disease, "weeks": str(self.weeks), "end": self.end_label}
        if self.province:
            values["province"] = self.province
        return urlencode({**values, **more})


def map_query(request: Request, tx: dict[str, str]) -> MapQuery:
    """The map's parameters (400 :class:`PageError` when one is invalid)."""
    params = request.query_params
    disease = params.get("disease") or DEFAULT_DISEASE
    if disease_by_key(disease) is None:
        raise refusal(400, tx, "bad_disease")
    raw_weeks = params.get("weeks") or str(DEFAULT_WEEKS)
    if not raw_weeks.isdigit() or not 1 <= int(raw_weeks) <= 52:
        raise refusal(400, tx, "bad_weeks")
    end = week_start(dt.date.today())
    if params.get("end"):
        try:
            end = parse_iso_week(str(params.get("end")))
        except (ValueError, IndexError):
            raise refusal(400, tx, "bad_week") from None
    province = params.get("province") or None
    if province is not None and province not in province_codes():
        raise refusal(400, tx, "bad_province")
    return MapQuery(disease, int(raw_weeks), end, province)


@dataclass(frozen=True, slots=True)
class MapData:
    query: MapQuery
    province: ProvinceMap | None
    rows: list[CommuneIncidence]
    alerts: dict[str, list[Alert]]  # commune code -> its open alerts


async def _data(request: Request, q: MapQuery) -> MapData:
    found, _lang, _tx = await surveillance_user(request)
    async with fhir(request, found) as client:
        alerts = await open_alerts(client)
    async with transaction() as conn:
        code = q.province or await busiest_province(conn, alerts)
        if code is None:
            return MapData(q, None, [], {})
        rows = await incidence(conn, q.disease, code, end=q.end, weeks=q.weeks)
    by_commune: dict[str, list[Alert]] = {}
    for alert in alerts:
        if len(alert.area) == 5 and province_of_area(alert.area) == code:
            by_commune.setdefault(alert.area, []).append(alert)
    return MapData(q, province_map(code), rows, by_commune)


def _title(row: CommuneIncidence, lang: str, tx: dict[str, str]) -> str:
    if row.rate is None:
        return f"{tx['no_population'].format(name=row.name)} ({tx['n_cases'].format(n=row.cases)})"
    return f"{row.name}: {decimal(row.rate, lang)} / 100.000 ({tx['n_cases'].format(n=row.cases)})".replace(
        "100.000", "100,000" if lang == "en" else "100.000"
    )


def _band(lang: str, low: float | None, high: float | None) -> str:
    if low is None:
        return f"< {decimal(high, lang)}"
    if high is None:
        return f"≥ {decimal(low, lang)}"
    return f"{decimal(low, lang)} – < {decimal(high, lang)}"


async def map_page(request: Request) -> Response:
    _found, lang, tx = await surveillance_user(request)
    q = map_query(request, tx)
    data = await _data(request, q)
    disease = disease_by_key(q.disease)
    assert disease is not None
    name = disease.name(lang)
    svg = None
    title = tx["map_title"].format(disease=name, weeks=q.weeks, week=q.end_label)
    if data.province is not None:
        areas = {r.code: MapArea(r.code, r.rate, _title(r, lang, tx)) for r in data.rows}
        svg = incidence_map_svg(
            data.province, areas, title=title, signals=set(data.alerts), signal_title=tx["signal_here"]
        )
    cases = sum(r.cases for r in data.rows)
    known = [r for r in data.rows if r.population]
    population = sum(r.population or 0 for r in known)
    total_rate = sum(r.cases for r in known) * 100_000 / population if population else None
    geo_query = q.query(province=data.province.code) if data.province else ""
    context = {
        "css": CSS,
        "L": tx,
        "q": q,
        "disease_name": name,
        "diseases": diseases(),
        "title": title,
        "map": svg,
        "province": data.province,
        "provinces": [(c, province_map(c).name) for c in province_codes()],
        "rows": [
            {
                "row": r,
                "css": class_of(r.rate, INCIDENCE_BREAKS),
                "rate": decimal(r.rate, lang),
                "alerts": data.alerts.get(r.code, []),
            }
            for r in data.rows
        ],
        "cases": cases,
        "population": population,
        "total_rate": decimal(total_rate, lang),
        "alerts": [a for code in sorted(data.alerts) for a in data.alerts[code]],
        "legend": legend(INCIDENCE_BREAKS, lambda lo, hi: _band(lang, lo, hi), tx["no_data"]),
        "geojson_url": f"/app/surveillance/map.geojson?{geo_query}" if data.province else "",
        "bulletin_url": f"/app/surveillance/bulletin?{q.query()}" if data.province else "",
    }
    return render(request, "surveillance/map.html", context)


async def map_geojson(request: Request) -> Response:
    """The province's communes as GeoJSON with the map's numbers in each Feature's ``properties``:
    ``cases``, ``population``, ``rate`` (per 100,000, None without a population), ``class`` (``q0``–``q4``,
    ``nodata``), ``title``, ``alerts`` (the open alerts: id, text) and ``signal`` (whether there is one)."""
    _found, lang, tx = await surveillance_user(request)
    q = map_query(request, tx)
    data = await _data(request, q)
    if data.province is None:
        return JSONResponse({"type": "FeatureCollection", "features": []})
    by_code = {r.code: r for r in data.rows}
    collection: dict[str, Any] = copy.deepcopy(province_geojson(data.province.code))
    for feature in collection["features"]:
        code = feature["properties"]["code"]
        row = by_code.get(code)
        alerts = data.alerts.get(code, [])
        feature["properties"].update(
            {
                "cases": row.cases if row else 0,
                "population": row.population if row else None,
                "rate": None if row is None or row.rate is None else round(row.rate, 3),
                "class": class_of(row.rate if row else None, INCIDENCE_BREAKS),
                "title": _title(row, lang, tx) if row else feature["properties"]["name"],
                "signal": bool(alerts),
                "alerts": [
                    {
                        "id": a.id,
                        "href": f"/app/surveillance/alerts/{a.id}",
                        "text": f"{a.disease_display} · {a.week} · {a.method}: {a.observed or 0:g}",
                    }
                    for a in alerts
                ],
            }
        )
    collection["query"] = {"disease": q.disease, "weeks": q.weeks, "end": q.end_label}
    return JSONResponse(collection, headers={"Cache-Control": "no-store"})


ROUTES: Final = [
    Route("/app/surveillance/map", map_page, methods=["GET"]),
    Route("/app/surveillance/map.geojson", map_geojson, methods=["GET"]),
]
