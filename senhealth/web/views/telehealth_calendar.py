"""The practitioner's telehealth calendar: the week's free slots, booked remote visits and consult meetings,
and a form that opens remote-visit slots on a simple weekly pattern.

Spec: R4 Schedule https://hl7.org/fhir/R4/schedule.html, Slot https://hl7.org/fhir/R4/slot.html,
Appointment https://hl7.org/fhir/R4/appointment.html; a transaction Bundle
https://hl7.org/fhir/R4/http.html#transaction (the slots of one pattern are written all or nothing).
docs/web-telehealth.md, docs/telehealth-visits.md (what a remote-visit Schedule is).

- ``GET /app/telehealth/calendar?week=YYYY-MM-DD``: the week (Monday to Sunday, the facility's time zone)
  of the signed-in practitioner: the Schedules whose actor is them or one of their PractitionerRoles, those
  Schedules' Slots of the week (free and busy), and the Appointments of the week where they take part
  (as themselves or a role), each marked a remote visit (``serviceType`` remote-visit) or a consult meeting,
  each linking to its video room;
- ``POST /app/telehealth/calendar/slots``: from a date, for 1–8 weeks, on the chosen weekdays, from a time
  to a time, slots of 10–120 minutes, free, on the practitioner's remote-visit Schedule (made the first time:
  ``actor`` their PractitionerRole at the facility, made too if missing, and the Practitioner;
  ``serviceType`` ``telehealth-service#remote-visit``), skipping past times and times that overlap a slot
  already there; at most 300 slots at once.

Everything goes through the FHIR API as the user (the access policy and the audit apply).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.telehealth.visits.model import REMOTE_VISIT, SERVICE_SYSTEM
from senhealth.web.context import Redirect, csrf_protected, fhir, lang_of, render
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.sessions import Session
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.telehealth_common import local_zone, parse_when, require_clinician, text_of

__all__ = ["ROUTES", "pattern_times"]

BASE: Final = "/app/telehealth/calendar"
MAX_SLOTS: Final = 300
_OPEN: Final = frozenset({"proposed", "pending", "booked", "arrived", "checked-in", "fulfilled", "waitlist"})


def _monday(value: str | None, zone: dt.tzinfo) -> dt.date:
    today = dt.datetime.now(zone).date()
    try:
        day = dt.date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - dt.timedelta(days=day.weekday())


def _is_remote(concepts: Any) -> bool:
    return any(
        c.get("system") == SERVICE_SYSTEM and c.get("code") == REMOTE_VISIT
        for concept in concepts or []
        for c in concept.get("coding") or []
    )


async def _mine(client: FhirClient, practitioner: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The references the practitioner acts under (themselves, their roles) and their Schedules."""
    roles = await client.search_all(
        "PractitionerRole", [("practitioner", f"Practitioner/{practitioner}")], pages=2
    )
    actors = [f"Practitioner/{practitioner}", *(f"PractitionerRole/{r['id']}" for r in roles)]
    schedules = await client.search_all("Schedule", [("actor", ",".join(actors)), ("_count", "100")], pages=2)
    return actors, schedules


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def _week(request: Request, found: Session, practitioner: str, monday: dt.date) -> dict[str, Any]:
    zone = local_zone(request)
    start = dt.datetime.combine(monday, dt.time(0, 0), tzinfo=zone)
    end = start + dt.timedelta(days=7)
    days: list[dict[str, Any]] = [{"date": monday + dt.timedelta(days=i), "items": []} for i in range(7)]
    free = booked = 0
    async with fhir(request, found) as client:
        actors, schedules = await _mine(client, practitioner)
        slots: list[dict[str, Any]] = []
        if schedules:
            slots = await client.search_all(
                "Slot",
                [
                    ("schedule", ",".join(f"Schedule/{s['id']}" for s in schedules)),
                    ("start", f"ge{_iso(start)}"),
                    ("start", f"lt{_iso(end)}"),
                    ("_count", "500"),
                ],
                pages=3,
            )
        appointments = await client.search_all(
            "Appointment",
            [
                ("actor", ",".join(actors)),
                ("date", f"ge{_iso(start)}"),
                ("date", f"lt{_iso(end)}"),
                ("_count", "200"),
            ],
            pages=3,
        )
    remote = {s["id"] for s in schedules if _is_remote(s.get("serviceType"))}
    booked_slots: set[str] = set()
    for appt in appointments:
        if appt.get("status") not in _OPEN:
            continue
        when = parse_when(appt.get("start"))
        if when is None:
            continue
        for s in appt.get("slot") or []:
            booked_slots.add(str(s.get("reference") or "").removeprefix("Slot/"))
        patient = next(
            (p.get("actor") or {} for p in appt.get("participant") or []
             if str((p.get("actor") or {}).get("reference") or "").startswith("Patient/")),
            {},
        )  # fmt: skip
        kind = "visit" if _is_remote(appt.get("serviceType")) else "consult"
        booked += 1
        days[(when.astimezone(zone).date() - monday).days]["items"].append(
            {
                "kind": kind,
                "id": appt["id"],
                "start": when,
                "end": parse_when(appt.get("end")),
                "status": appt.get("status"),
                "who": str(patient.get("display") or patient.get("reference") or ""),
                "text": str(appt.get("description") or ""),
                "room": appt.get("status") in ("booked", "arrived", "checked-in"),
            }
        )
    for slot in slots:
        when = parse_when(slot.get("start"))
        if when is None or slot["id"] in booked_slots:
            continue
        status = str(slot.get("status") or "")
        if status == "free":
            free += 1
        elif status != "busy":
            continue
        days[(when.astimezone(zone).date() - monday).days]["items"].append(
            {
                "kind": "free" if status == "free" else "busy",
                "id": slot["id"],
                "start": when,
                "end": parse_when(slot.get("end")),
                "remote": str((slot.get("schedule") or {}).get("reference") or "").removeprefix("Schedule/")
                in remote,
            }
        )
    for day in days:
        day["items"].sort(key=lambda i: i["start"])
    return {"days": days, "free": free, "booked": booked, "schedules": schedules}


async def _context(request: Request, found: Session, practitioner: str, week: str | None) -> dict[str, Any]:
    zone = local_zone(request)
    monday = _monday(week, zone)
    context = await _week(request, found, practitioner, monday)
    next_monday = monday + dt.timedelta(days=7)
    context.update(
        {
            "tx": text_of(request),
            "section": "calendar",
            "base": BASE,
            "monday": monday,
            "sunday": monday + dt.timedelta(days=6),
            "prev": (monday - dt.timedelta(days=7)).isoformat(),
            "next": next_monday.isoformat(),
            "zone": zone,
            "form": {"from": max(monday, dt.datetime.now(zone).date()).isoformat(), "weeks": "1", "days": ["0", "1", "2", "3", "4"],
                     "start": "08:00", "end": "11:00", "length": "30"},
            "errors": [],
            "made": request.query_params.get("made"),
        }
    )  # fmt: skip
    return context


async def calendar_page(request: Request) -> Response:
    found, principal = await require_clinician(request)
    assert principal.practitioner is not None
    context = await _context(request, found, principal.practitioner, request.query_params.get("week"))
    return render(request, "telehealth/calendar.html", context)


def pattern_times(
    first: dt.date,
    weeks: int,
    weekdays: set[int],
    start: dt.time,
    end: dt.time,
    minutes: int,
    zone: dt.tzinfo,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slots of a weekly pattern (see the module docstring), in order."""
    out = []
    for offset in range(weeks * 7):
        day = first + dt.timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        at = dt.datetime.combine(day, start, tzinfo=zone)
        stop = dt.datetime.combine(day, end, tzinfo=zone)
        while at + dt.timedelta(minutes=minutes) <= stop:
            out.append((at, at + dt.timedelta(minutes=minutes)))
            at += dt.timedelta(minutes=minutes)
    return out


def _pattern(form: FormData, zone: dt.tzinfo) -> list[tuple[dt.datetime, dt.datetime]]:
    try:
        first = dt.date.fromisoformat(str(form.get("from") or ""))
        weeks = int(str(form.get("weeks") or "1"))
        weekdays = {int(str(d)) for d in form.getlist("days")}
        start = dt.time.fromisoformat(str(form.get("start") or ""))
        end = dt.time.fromisoformat(str(form.get("end") or ""))
        minutes = int(str(form.get("length") or "30"))
    except ValueError:
        raise ValueError("pattern") from None
    if (
        not 1 <= weeks <= 8
        or not 10 <= minutes <= 120
        or not weekdays <= set(range(7))
        or not weekdays
        or end <= start
    ):
        raise ValueError("pattern")
    return pattern_times(first, weeks, weekdays, start, end, minutes, zone)


async def _remote_schedule(client: FhirClient, found: Session, practitioner: str) -> str:
    """The practitioner's remote-visit Schedule at the facility (made, with their role, when missing)."""
    facility = found.facility or ""
    roles = await client.search_all(
        "PractitionerRole",
        [("practitioner", f"Practitioner/{practitioner}"), ("organization", facility)],
        pages=1,
    )
    if roles:
        role_id = str(roles[0]["id"])
    else:
        role = await client.create(
            {"resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": f"Practitioner/{practitioner}"},
             "organization": {"reference": facility}}
        )  # fmt: skip
        role_id = str(role["id"])
    schedules = await client.search_all("Schedule", [("actor", f"PractitionerRole/{role_id}")], pages=1)
    for schedule in schedules:
        if _is_remote(schedule.get("serviceType")) and schedule.get("active", True):
            return str(schedule["id"])
    made = await client.create(
        {
            "resourceType": "Schedule",
            "active": True,
            "serviceType": [
                {
                    "coding": [
                        {
                            "system": SERVICE_SYSTEM,
                            "code": REMOTE_VISIT,
                            "display": "Khám từ xa / remote visit",
                        }
                    ]
                }
            ],
            "actor": [
                {"reference": f"PractitionerRole/{role_id}"},
                {"reference": f"Practitioner/{practitioner}"},
            ],
            "comment": "Lịch khám từ xa / remote-visit calendar",
        }
    )
    return str(made["id"])


@csrf_protected
async def create_slots(request: Request, form: FormData) -> Response:
    found, principal = await require_clinician(request)
    assert principal.practitioner is not None
    tx = text_of(request)
    zone = local_zone(request)
    errors: list[dict[str, str]] = []
    try:
        times = _pattern(form, zone)
    except ValueError:
        times = []
        errors.append({"where": "", "text": tx["err.bad_request"]})
    now = dt.datetime.now(dt.UTC)
    times = [t for t in times if t[0] > now]
    if not errors and not times:
        errors.append({"where": "", "text": tx["err.bad_request"]})
    if not errors and len(times) > MAX_SLOTS:
        errors.append({"where": "", "text": f"≤ {MAX_SLOTS}"})
    made = 0
    if not errors:
        try:
            async with fhir(request, found) as client:
                schedule = await _remote_schedule(client, found, principal.practitioner)
                existing = await client.search_all(
                    "Slot",
                    [("schedule", f"Schedule/{schedule}"), ("start", f"ge{_iso(times[0][0])}"),
                     ("start", f"le{_iso(times[-1][1])}"), ("_count", "500")],
                    pages=3,
                )  # fmt: skip
            taken = [
                (parse_when(s.get("start")), parse_when(s.get("end")))
                for s in existing
                if s.get("status") != "entered-in-error"
            ]
            fresh = [t for t in times if not any(a and b and a < t[1] and t[0] < b for a, b in taken)]
            entries = [
                {"resource": {"resourceType": "Slot", "schedule": {"reference": f"Schedule/{schedule}"}, "status": "free",
                              "serviceType": [{"coding": [{"system": SERVICE_SYSTEM, "code": REMOTE_VISIT}]}],
                              "start": _iso(a), "end": _iso(b)},
                 "request": {"method": "POST", "url": "Slot"}}
                for a, b in fresh
            ]  # fmt: skip
            if entries:
                async with emr_fhir(request, found) as api:
                    answer = await api.post_raw(
                        f"{request.url.scheme}://{request.url.netloc}/fhir",  # the transaction goes to the base
                        orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
                        "application/fhir+json",
                    )
                if not answer.ok:
                    errors += [
                        {"where": i.expression, "text": in_language(i.text, lang_of(request))}
                        for i in answer.issues
                    ]
                else:
                    made = len(entries)
        except FhirError as e:
            errors.append({"where": "", "text": in_language(e.detail, lang_of(request))})
    if not errors:
        week = _monday(str(form.get("from") or ""), zone).isoformat()
        raise Redirect(f"{BASE}?week={week}&made={made}")
    context = await _context(request, found, principal.practitioner, str(form.get("from") or ""))
    context["errors"] = errors
    context["form"] = {
        "from": str(form.get("from") or ""), "weeks": str(form.get("weeks") or ""), "days": [str(d) for d in form.getlist("days")],
        "start": str(form.get("start") or ""), "end": str(form.get("end") or ""), "length": str(form.get("length") or ""),
    }  # fmt: skip
    return render(request, "telehealth/calendar.html", context, status=400 if not made else 200)


ROUTES = [
    Route(BASE, calendar_page, methods=["GET"]),
    Route(BASE + "/slots", create_slots, methods=["POST"]),
]
