"""The citizen portal's remote visits: book a visit for a condition of Circular 30/2023, see the upcoming
visits and join their video call.

docs/web-telehealth.md; the booking is docs/telehealth-visits.md (``Appointment/$book-remote-visit``, the
list of Circular 30/2023/TT-BYT with its sources, ``outside_list`` warn or block).

- ``GET /portal/telehealth``: the upcoming visits of the signed-in citizen (``Appointment?patient=`` as
  them: their own compartment only), each with "join the video call" while it may be entered; the booking
  form: a condition of the list (grouped by specialty, with its ICD-10 code) or another ICD-10 code, a free
  slot of a remote-visit Schedule (the practitioner named, the time in the province's zone), the channel and
  the reason;
- ``POST /portal/telehealth/book``: ``$book-remote-visit`` as the citizen; the answer's warning (a condition
  outside the list with ``warn``) is shown beside the booking, a refusal (outside the list with ``block``,
  a slot just taken) with the server's reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.telehealth.visits import condition_list
from senhealth.telehealth.visits.model import REMOTE_VISIT, SERVICE_SYSTEM
from senhealth.web.context import Redirect, csrf_protected, fhir, lang_of, render, require_patient
from senhealth.web.fhir_client import FhirError, resources
from senhealth.web.record import patient_name
from senhealth.web.sessions import Session
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.telehealth_common import local_zone, parse_when, text_of

__all__ = ["ROUTES", "condition_choices"]

BASE: Final = "/portal/telehealth"
_ROOM_OPEN: Final = frozenset({"booked", "arrived", "checked-in"})


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def condition_choices(lang: str) -> list[dict[str, Any]]:
    """The list of Circular 30/2023 as option groups: ``{"specialty", "rows": [{"code", "name", "codes"}]}``."""
    groups: dict[str, list[dict[str, str]]] = {}
    for row in condition_list().conditions:
        first = row.icd10[0].split("-", 1)[0] if row.icd10 else ""
        if not first:
            continue
        groups.setdefault(row.specialty, []).append(
            {
                "code": first,
                "name": row.name_vi if lang == "vi" else row.name_en,
                "codes": ", ".join(row.icd10),
            }
        )
    return [{"specialty": k, "rows": v} for k, v in groups.items()]


async def _context(request: Request, found: Session) -> dict[str, Any]:
    lang = lang_of(request)
    zone = local_zone(request)
    me = (found.patient or "").removeprefix("Patient/")
    now = dt.datetime.now(dt.UTC)
    async with fhir(request, found) as client:
        appointments = await client.search_all(
            "Appointment",
            [
                ("patient", f"Patient/{me}"),
                ("date", f"ge{_iso(now - dt.timedelta(hours=2))}"),
                ("_sort", "date"),
                ("_count", "50"),
            ],
            pages=2,
        )
        schedules = await client.search(
            "Schedule",
            [("service-type", f"{SERVICE_SYSTEM}|{REMOTE_VISIT}"), ("active", "true"), ("_count", "100"),
             ("_include", "Schedule:actor")],
        )  # fmt: skip
        people = {
            f"{r['resourceType']}/{r['id']}": patient_name(r)
            for r in resources(schedules)
            if r.get("resourceType") == "Practitioner"
        }
        slots: list[dict[str, Any]] = []
        by_schedule: dict[str, str] = {}
        for s in resources(schedules, "Schedule"):
            names = [
                people.get(str(a.get("reference")), "") or str(a.get("display") or "")
                for a in s.get("actor") or []
            ]
            by_schedule[s["id"]] = next((n for n in names if n), "")
        if by_schedule:
            slots = await client.search_all(
                "Slot",
                [("schedule", ",".join(f"Schedule/{i}" for i in by_schedule)), ("status", "free"),
                 ("start", f"gt{_iso(now)}"), ("_sort", "start"), ("_count", "100")],
                pages=2,
            )  # fmt: skip
        doctor_names: dict[str, str] = {}
        for a in appointments:
            for p in a.get("participant") or []:
                ref = str((p.get("actor") or {}).get("reference") or "")
                if (
                    ref.startswith("Practitioner/")
                    and ref not in doctor_names
                    and not (p.get("actor") or {}).get("display")
                ):
                    try:
                        doctor_names[ref] = patient_name(
                            await client.read("Practitioner", ref.split("/", 1)[1])
                        )
                    except FhirError:
                        doctor_names[ref] = ""
    upcoming = []
    for a in appointments:
        start = parse_when(a.get("start"))
        if start is None or a.get("status") in ("cancelled", "entered-in-error", "noshow"):
            continue
        doctor = next(
            (str((p.get("actor") or {}).get("display") or doctor_names.get(str((p.get("actor") or {}).get("reference")), ""))
             for p in a.get("participant") or []
             if str((p.get("actor") or {}).get("reference") or "").startswith("Practitioner")),
            "",
        )  # fmt: skip
        upcoming.append(
            {"id": a["id"], "start": start, "status": a.get("status"), "doctor": doctor,
             "reason": ", ".join(str(c.get("text") or next((x.get("code") for x in c.get("coding") or []), "")) for c in a.get("reasonCode") or []),
             "room": a.get("status") in _ROOM_OPEN}
        )  # fmt: skip
    free = []
    for s in slots:
        start = parse_when(s.get("start"))
        if start is None:
            continue
        schedule = str((s.get("schedule") or {}).get("reference") or "").removeprefix("Schedule/")
        free.append(
            {
                "id": s["id"],
                "start": start,
                "label": f"{by_schedule.get(schedule, '')} · {start.astimezone(zone):%d/%m/%Y %H:%M}",
            }
        )
    return {
        "tx": text_of(request),
        "base": BASE,
        "upcoming": upcoming,
        "slots": free,
        "conditions": condition_choices(lang),
        "values": {"channel": "video"},
        "errors": [],
        "warning": request.query_params.get("warning") == "1",
        "booked": request.query_params.get("booked"),
    }


async def portal_page(request: Request) -> Response:
    found = await require_patient(request)
    return render(request, "telehealth/portal.html", await _context(request, found))


@csrf_protected
async def book(request: Request, form: FormData) -> Response:
    found = await require_patient(request)
    values = {k: str(form.get(k) or "").strip() for k in ("slot", "condition", "other", "channel", "reason")}
    code = values["other"] or values["condition"]
    params: list[dict[str, Any]] = [
        {"name": "slot", "valueReference": {"reference": f"Slot/{values['slot']}"}},
        {"name": "condition", "valueCode": code},
        {"name": "channel", "valueCode": values["channel"] or "video"},
    ]
    if values["reason"]:
        params.append({"name": "reason", "valueString": values["reason"]})
    async with emr_fhir(request, found) as api:
        answer = await api.post_parameters("Appointment/$book-remote-visit", params)
    if answer.ok:
        body = answer.json or {}
        appointment: dict[str, Any] = next(
            (p.get("resource") for p in body.get("parameter") or [] if p.get("name") == "appointment"), {}
        )
        warned = any(p.get("name") == "warning" for p in body.get("parameter") or [])
        query = {"booked": str((appointment or {}).get("id") or "")}
        if warned:
            query["warning"] = "1"
        raise Redirect(f"{BASE}?{urlencode(query)}")
    context = await _context(request, found)
    context["values"] = values
    context["errors"] = [
        {"where": i.expression, "text": in_language(i.text, lang_of(request))} for i in answer.issues
    ]
    return render(
        request, "telehealth/portal.html", context, status=answer.status if answer.status < 500 else 502
    )


ROUTES = [
    Route(BASE, portal_page, methods=["GET"]),
    Route(BASE + "/book", book, methods=["POST"]),
]
