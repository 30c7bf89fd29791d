"""The province's reports on the dashboards (issue 11 build item 2; docs/web-dashboards.md).

| route | what |
|---|---|
| ``GET /dashboards/reports/14bct?year=Y&month=M&province=NN[&format=csv|xlsx|pdf]`` | form 14/BCT of the month as a page (:func:`senhealth.analytics.reports.report_14bct`), and its downloads (the report's own renderers: docs/reports-14bct.md) |
| ``GET /dashboards/reports/scheduled`` | the monthly PDF reports stored by the schedule (:mod:`senhealth.analytics.scheduled_reports`), newest month first |
| ``GET /dashboards/reports/scheduled/{id}`` | one of them, the PDF (``Content-Disposition: attachment``) |

The stored reports are read through the FHIR API as the signed-in user (audited like every read); they
are DocumentReferences with no subject (counts only). Who: the provincial roles.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.analytics.reports import COLUMNS, MEDIA_TYPES, report_14bct
from senhealth.analytics.reports import render as render_report
from senhealth.analytics.scheduled_reports import REPORT_CODE, REPORT_TYPE_SYSTEM
from senhealth.web.context import fhir, render
from senhealth.web.fhir_client import FhirError
from senhealth.web.views.dashboard_common import ask, base_context, link, refuse
from senhealth.web.views.dashboard_data import period_choices, prepare_views, views_schema
from senhealth.web.views.dashboard_text import period_label

__all__ = ["ROUTES", "report_14bct_page", "scheduled_download", "scheduled_list"]

REPORT_FORMATS: Final = ("csv", "xlsx", "pdf")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


async def report_14bct_page(request: Request) -> Response:
    a = await ask(request)
    params = request.query_params
    year = _int(params.get("year")) if params.get("year") else a.period.year
    month = _int(params.get("month")) if params.get("month") else a.period.start.month
    if year is None or month is None or not 1 <= month <= 12 or not 1900 <= year <= 9998:
        raise refuse(400, a.tx, "bad_month")
    fmt = params.get("format")
    if fmt and fmt not in REPORT_FORMATS:
        raise refuse(400, a.tx, "bad_format")
    param_ids = await prepare_views(a.store)
    report = await report_14bct(
        a.store.pool, year, month, a.province, param_ids=param_ids, schema=views_schema()
    )
    if fmt:
        body = await asyncio.to_thread(render_report, report, fmt)
        return Response(
            body,
            media_type=MEDIA_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="14BCT-{a.province}-{year}{month:02d}.{fmt}"'
            },
        )
    query = {"year": str(year), "month": str(month), "province": a.province}
    context = base_context(
        a,
        page_title=a.tx["bct14"],
        report=report.to_json(),
        columns=[(c.key, c.label_en if a.lang == "en" else c.label_vi) for c in COLUMNS],
        year=year,
        month=month,
        months=list(range(1, 13)),
        years=[y for y in range(a.period.year + 1, a.period.year - 6, -1)],
        query=query,
        caption=a.tx["bct14_caption"].format(month=f"{month:02d}", year=year, province=report.province_name),
        overview_href=link("/dashboards/", a),
        choices=period_choices(a.period),
    )
    return render(request, "dashboards/report_14bct.html", context)


def _attachment(doc: dict[str, Any]) -> dict[str, Any]:
    for content in doc.get("content") or []:
        att = content.get("attachment") or {}
        if att.get("contentType") == "application/pdf":
            return dict(att)
    return {}


def _is_scheduled(doc: dict[str, Any]) -> bool:
    codings = (doc.get("type") or {}).get("coding") or []
    return any(c.get("system") == REPORT_TYPE_SYSTEM and c.get("code") == REPORT_CODE for c in codings)


async def scheduled_list(request: Request) -> Response:
    a = await ask(request)
    async with fhir(request, a.session) as client:
        docs = await client.search_all(
            "DocumentReference", [("type", f"{REPORT_TYPE_SYSTEM}|{REPORT_CODE}"), ("_count", 50)]
        )
    reports = []
    for doc in docs:
        if not _is_scheduled(doc):
            continue
        att = _attachment(doc)
        period = (doc.get("context") or {}).get("period") or {}
        ident = next((i.get("value") for i in doc.get("identifier") or [] if i.get("value")), "")
        reports.append(
            {
                "id": doc["id"],
                "title": doc.get("description") or att.get("title") or doc["id"],
                "period": str(period.get("start") or "")[:7],
                "key": ident,
                "created": doc.get("date"),
                "size": att.get("size"),
                "href": f"/dashboards/reports/scheduled/{doc['id']}",
            }
        )
    reports.sort(key=lambda r: (r["period"], r["key"]), reverse=True)
    context = base_context(
        a,
        page_title=a.tx["scheduled"],
        reports=reports,
        overview_href=link("/dashboards/", a),
        period_label=period_label(a.period, a.lang),
    )
    return render(request, "dashboards/scheduled.html", context)


async def scheduled_download(request: Request) -> Response:
    a = await ask(request)
    doc_id = str(request.path_params["id"])
    try:
        async with fhir(request, a.session) as client:
            doc = await client.read("DocumentReference", doc_id)
    except FhirError:
        raise refuse(404, a.tx, "no_report") from None
    att = _attachment(doc)
    if not _is_scheduled(doc) or not att.get("data"):
        raise refuse(404, a.tx, "no_report")
    try:
        body = base64.b64decode(att["data"], validate=True)
    except (binascii.Error, ValueError):
        raise refuse(404, a.tx, "no_report") from None
    name = str(att.get("title") or f"{doc_id}.pdf").replace('"', "")
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "sandbox",
        },
    )


ROUTES: Final = [
    Route("/dashboards/reports/14bct", report_14bct_page, methods=["GET"]),
    Route("/dashboards/reports/scheduled", scheduled_list, methods=["GET"]),
    Route("/dashboards/reports/scheduled/{id}", scheduled_download, methods=["GET"]),
]
