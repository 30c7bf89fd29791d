"""Staff pages: patient search and the patient chart, read through the FHIR API as the signed-in user.

Search (https://hl7.org/fhir/R4/search.html): a 12-digit personal ID or a 15-character insurance card
number becomes ``identifier=``; anything else is a name, one ``name=`` per word (every word must start a
part of the name; the string index is lower-cased with Vietnamese diacritics folded, so "nguyen van an"
finds "Nguyễn Văn An"), with ``birthdate=<year>`` when a birth year is given. The chart is
``Patient/<id>`` then ``Patient/<id>/$everything``; a patient the user may not see is the API's 404,
answered with the emergency-access form for the care roles (:mod:`senhealth.web.views.break_glass`,
https://hl7.org/fhir/R4/security.html#break-glass).
"""

from __future__ import annotations

import re
from typing import Any, Final

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.core.text import normalize
from senhealth.security.break_glass import BREAK_GLASS_ROLES
from senhealth.web import svg
from senhealth.web.context import PageError, fhir, render, require_staff, t
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.i18n import N_
from senhealth.web.record import BHYT, CCCD, Record, build_record, identifier, patient_name
from senhealth.web.views.break_glass import form_context

__all__ = ["ROUTES", "charts", "everything", "search_params"]

_CCCD: Final = re.compile(r"^\d{12}$")
_BHYT: Final = re.compile(r"^[A-Za-z]{2}\d{13}$")
_YEAR: Final = re.compile(r"^(19|20)\d{2}$")


def search_params(query: str, year: str) -> list[tuple[str, str]] | None:
    """The FHIR search of the form, or None when there is nothing to search for."""
    query = query.strip()
    year = year.strip()
    compact = query.replace(" ", "")
    if _CCCD.match(compact):
        return [("identifier", f"{CCCD}|{compact}")]
    if _BHYT.match(compact):
        return [("identifier", f"{BHYT}|{compact.upper()}")]
    words = [w for w in normalize(query).split() if w]
    if not words:
        return None
    params = [("name", w) for w in words[:6]]
    if _YEAR.match(year):
        params.append(("birthdate", year))
    params.append(("_count", "50"))
    return params


def _summary(patient: dict[str, Any]) -> dict[str, str]:
    org = patient.get("managingOrganization") or {}
    return {
        "id": str(patient.get("id", "")),
        "name": patient_name(patient),
        "birth": str(patient.get("birthDate", "")),
        "gender": str(patient.get("gender", "")),
        "cccd": identifier(patient, CCCD),
        "bhyt": identifier(patient, BHYT),
        "org": str(org.get("display") or org.get("reference") or ""),
        "inactive": "1" if patient.get("active") is False else "",
    }


async def search_page(request: Request) -> Response:
    found = await require_staff(request)
    query = request.query_params.get("q", "")
    year = request.query_params.get("year", "")
    params = search_params(query, year)
    results: list[dict[str, str]] | None = None
    error = None
    if params is not None:
        try:
            async with fhir(request, found) as client:
                patients = await client.search_all("Patient", params, pages=1)
            results = [_summary(p) for p in patients]
        except FhirError as e:
            error = (
                N_("You may not search patients with this role.")
                if e.status == 403
                else N_("The search failed.")
            )
    elif query or year:
        error = N_("Enter a personal ID, an insurance card number, or a name.")
    context = {
        "q": query,
        "year": year,
        "results": results,
        "error": error,
        "ended": request.query_params.get("ended"),
        **form_context(q=query),
    }
    template = "staff/search_results.html" if request.headers.get("hx-request") else "staff/search.html"
    return render(request, template, context)


async def everything(client: FhirClient, patient_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The patient (404 as :class:`FhirError` when unknown or not visible) and the rest of their record."""
    patient = await client.read("Patient", patient_id)
    return patient, await _everything_pages(client, patient_id)


async def _everything_pages(client: FhirClient, patient_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    bundle = await client.operation(f"Patient/{patient_id}/$everything", [("_count", "500")])
    pages = 1
    while True:
        out.extend(
            e["resource"]
            for e in bundle.get("entry", []) or []
            if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") != "Patient"
        )
        nxt = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)
        if not nxt or pages >= 10:
            return out
        bundle = await client.follow(nxt)
        pages += 1


def charts(request: Request, record: Record) -> list[dict[str, Any]]:
    """The SVG charts of the record: blood pressure, then every numeric series with two points or more."""
    tr = t(request)
    out: list[dict[str, Any]] = []
    if len(record.blood_pressure) >= 1:
        title = tr.gettext("Blood pressure")
        chart = svg.line_chart(
            [
                svg.Series(tr.gettext("Systolic"), [(w, s) for w, s, _ in record.blood_pressure]),
                svg.Series(tr.gettext("Diastolic"), [(w, d) for w, _, d in record.blood_pressure]),
            ],
            title=title,
            unit="mmHg",
            date_label=tr.date,
        )
        w, s, d = record.blood_pressure[-1]
        out.append({"title": title, "svg": chart, "latest": f"{s:.0f}/{d:.0f} mmHg", "when": tr.date(w)})
    for series in record.series:
        latest = series.latest
        assert latest is not None
        series_chart: Markup | None = (
            svg.line_chart(
                [svg.Series(series.label, series.points)],
                title=series.label,
                unit=series.unit,
                date_label=tr.date,
            )
            if len(series.points) >= 2
            else None
        )
        value = f"{latest[1]:g} {series.unit}".strip()
        out.append(
            {
                "title": series.label,
                "svg": series_chart,
                "latest": value,
                "when": tr.date(latest[0]),
                "category": series.category,
            }
        )
    return out


async def chart_page(request: Request) -> Response:
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    try:
        async with fhir(request, found) as client:
            patient, others = await everything(client, patient_id)
    except FhirError as e:
        if e.status in (403, 404, 410):
            offer = found.role in BREAK_GLASS_ROLES and not found.break_glass
            context = {"offer_break_glass": offer, **form_context(patient_id)}
            return render(request, "staff/chart_hidden.html", context, status=404)
        raise PageError(502, "The record could not be read.") from None
    record = build_record(patient, others)
    return render(request, "staff/chart.html", {"record": record, "charts": charts(request, record)})


ROUTES = [
    Route("/app/patients", search_page, methods=["GET"]),
    Route("/app/patients/{patient_id:str}", chart_page, methods=["GET"]),
]
