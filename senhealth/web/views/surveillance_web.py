"""The CDC's outbreak-alert pages: the inbox ``/app/surveillance`` and one alert
``/app/surveillance/alerts/{id}`` with its next step's forms (issue 8 build item 5; docs/web-surveillance.md).

The alerts are FHIR Tasks (docs/surveillance-alerts.md) read through the platform's FHIR API as the
signed-in user (:mod:`senhealth.web.fhir_client`); every step is the FHIR operation
``Task/[id]/$alert-<action>`` called as the user (:mod:`.emr_fhir`, in-process), so the operation's rules
apply unchanged (only CDC officers act, only the assigned officer verifies, 409 on a wrong step) and an
operation's refusal is shown on the page with its status and message. A form carries the version of the
alert it was read at: a form older than the alert (another officer acted meanwhile) is refused with 409
before anything is called.

The inbox sorts open alerts into three columns: new signals (to triage), verification due (triaged or
being verified) and events in response, overdue ones flagged (past ``restriction.period.end``), filtered
by disease and area. An alert's page shows the detector's numbers, the epidemic curve of its disease and
area with the endemic channel and the threshold (server-drawn SVG, :mod:`.surveillance_charts`, and the
same numbers as a table), its history (the Task's versions, ``Task/[id]/_history``) and its response
actions.

:data:`ROUTES` also carries the map (:mod:`.surveillance_map`), the line list (:mod:`.surveillance_linelist`)
and the bulletin (:mod:`.surveillance_bulletin`): one line in ``senhealth/web/app.py`` installs them all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from senhealth.core.db import transaction
from senhealth.security import accounts
from senhealth.surveillance.alerts import Alert, get_config
from senhealth.surveillance.alerts.workflow import DECISIONS, Action, Step, allowed_actions
from senhealth.web.context import PageError, Redirect, csrf_protected, fhir, render, state
from senhealth.web.fhir_client import FhirClient, FhirError
from senhealth.web.sessions import Session
from senhealth.web.views import surveillance_bulletin, surveillance_linelist, surveillance_map
from senhealth.web.views.emr_fhir import emr_fhir, in_language
from senhealth.web.views.surveillance_charts import CurveText, epidemic_curve_svg
from senhealth.web.views.surveillance_common import ACTING_ROLES, CSS, decimal, refusal, surveillance_user
from senhealth.web.views.surveillance_data import (
    alert_history,
    curve,
    disease_of_alert,
    open_alerts,
    province_of_area,
    response_actions,
)

__all__ = ["COLUMNS", "ROUTES", "alert_page", "inbox", "take_step"]

COLUMNS: Final[tuple[tuple[str, frozenset[Step]], ...]] = (
    ("signal", frozenset({Step.SIGNAL})),
    ("verification", frozenset({Step.TRIAGED, Step.VERIFICATION})),
    ("response", frozenset({Step.EVENT, Step.RESPONSE})),
)
ACTION_STATUSES: Final = ("requested", "in-progress", "completed", "cancelled")


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(state(request).settings.timezone)


def _overdue(alert: Alert, now: dt.datetime) -> bool:
    return alert.due is not None and alert.due < now


@dataclass(frozen=True, slots=True)
class Card:
    alert: Alert
    disease: str
    overdue: bool


def _disease_name(alert: Alert, lang: str) -> str:
    disease = disease_of_alert(alert)
    return disease.name(lang) if disease is not None else alert.disease_display


async def inbox(request: Request) -> Response:
    found, lang, tx = await surveillance_user(request)
    params = request.query_params
    wanted_disease = params.get("disease") or ""
    wanted_area = (params.get("area") or "").strip()
    now = dt.datetime.now(dt.UTC)
    async with fhir(request, found) as client:
        alerts = await open_alerts(client)
    diseases = sorted(
        {(d.key, d.name(lang)) for a in alerts if (d := disease_of_alert(a)) is not None},
        key=lambda kv: kv[1],
    )
    areas = sorted({(a.area, a.area_display) for a in alerts})

    def kept(alert: Alert) -> bool:
        disease = disease_of_alert(alert)
        if (
            wanted_disease
            and (disease is None or disease.key != wanted_disease)
            and alert.disease != wanted_disease
        ):
            return False
        return not wanted_area or alert.area == wanted_area or province_of_area(alert.area) == wanted_area

    shown = [Card(a, _disease_name(a, lang), _overdue(a, now)) for a in alerts if kept(a)]
    columns = [
        {"key": key, "title": tx[f"col_{key}"], "cards": [c for c in shown if c.alert.step in steps]}
        for key, steps in COLUMNS
    ]
    context = {
        "css": CSS,
        "L": tx,
        "columns": columns,
        "diseases": diseases,
        "areas": areas,
        "disease": wanted_disease,
        "area": wanted_area,
        "total": len(shown),
        "late": sum(1 for c in shown if c.overdue),
        "may_act": found.role in ACTING_ROLES,
        "fmt": lambda v: decimal(v, lang),
        "zone": _zone(request),
    }
    return render(request, "surveillance/inbox.html", context)


# --- one alert ----------------------------------------------------------------------------------------------


async def _task(client: FhirClient, alert_id: str, tx: dict[str, str]) -> Alert:
    try:
        task = await client.read("Task", alert_id)
    except FhirError as e:
        if e.status in (404, 410):
            raise refusal(404, tx, "no_alert") from None
        message = tx["error"].format(status=e.status, message=e.detail)
        raise PageError(e.status, message) from None
    alert = Alert.from_task(task)
    if not any(
        c.get("code") == "alert" for c in (task.get("code") or {}).get("coding") or [] if isinstance(c, dict)
    ):
        raise refusal(404, tx, "no_alert")
    return alert


async def _names(client: FhirClient, references: set[str]) -> dict[str, str]:
    """Display names of Practitioner references (the reference itself when unreadable)."""
    out: dict[str, str] = {}
    for ref in sorted(references):
        kind, _, rid = ref.partition("/")
        try:
            person = await client.read(kind, rid)
        except FhirError:
            out[ref] = ref
            continue
        names = person.get("name") or [{}]
        out[ref] = str(
            names[0].get("text")
            or " ".join([names[0].get("family", ""), *names[0].get("given", [])]).strip()
            or ref
        )
    return out


def _history_rows(versions: list[Alert], names: dict[str, str], tx: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    seen = 0
    for version in versions:
        notes = version.content.get("note") or []
        for note in notes[seen:] or [{}]:
            author = note.get("authorReference", {}).get("reference") if note else None
            rows.append(
                {
                    "version": version.version,
                    "step": version.step.value,
                    "when": note.get("time") or version.content.get("lastModified"),
                    "who": names.get(author, author)
                    if author
                    else (note.get("authorString") or tx["system"]),
                    "text": note.get("text", ""),
                }
            )
        seen = len(notes)
    return rows


async def _officers() -> list[tuple[str, str]]:
    """``(Practitioner reference, name)`` of the enabled CDC officers' accounts linked to a Practitioner."""
    users = await accounts.list_users(include_disabled=False)
    return sorted(
        {
            (str(u.practitioner), u.display_name or u.username)
            for u in users
            if "cdc_officer" in u.roles and u.practitioner
        },
        key=lambda kv: kv[1],
    )


def _local_input(when: dt.datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def _alert_page(
    request: Request,
    found: Session,
    lang: str,
    tx: dict[str, str],
    alert_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    now = dt.datetime.now(dt.UTC)
    zone = _zone(request)
    async with fhir(request, found) as client:
        alert = await _task(client, alert_id, tx)
        versions = await alert_history(client, alert_id)
        actions = await response_actions(client, alert_id)
        refs = {
            str(n["authorReference"]["reference"])
            for v in versions
            for n in v.content.get("note") or []
            if isinstance(n.get("authorReference"), dict) and n["authorReference"].get("reference")
        }
        refs |= {
            str(a["owner"]["reference"])
            for a in actions
            if isinstance(a.get("owner"), dict) and a["owner"].get("reference")
        }
        names = await _names(client, refs)
    disease = disease_of_alert(alert)
    disease_name = disease.name(lang) if disease else alert.disease_display
    chart = None
    rows: list[dict[str, Any]] = []
    the_curve = None
    if disease is not None and province_of_area(alert.area) is not None:
        try:
            year = int(alert.week[:4])
        except ValueError:
            year = now.year
        async with transaction() as conn:
            the_curve = await curve(conn, disease.key, alert.area, year)
        words = CurveText(
            title=tx["curve_title"].format(disease=disease_name, area=alert.area_display, year=year),
            cases=tx["cases"],
            channel=tx["channel"].format(years=the_curve.years),
            mean=tx["channel_mean"],
            threshold=tx["threshold"],
            week=tx["week"],
        )
        chart = epidemic_curve_svg(the_curve, words, alert_week=alert.week, threshold=alert.upperbound)
        for i, label in enumerate(the_curve.labels):
            rows.append(
                {
                    "week": label,
                    "observed": the_curve.observed[i] if i < len(the_curve.observed) else None,
                    "lower": decimal(max(0.0, the_curve.lower[i]), lang) if the_curve.lower else "–",
                    "mean": decimal(the_curve.centre[i], lang) if the_curve.centre else "–",
                    "upper": decimal(the_curve.upper[i], lang) if the_curve.upper else "–",
                    "alarm": label == alert.week,
                }
            )
    me = await accounts.get_user(found.account_id)
    my_practitioner = me.practitioner if me else None
    may_act = found.role in ACTING_ROLES
    allowed = [a.value for a in allowed_actions(alert.step)] if may_act else []
    default_due = now + dt.timedelta(hours=get_config().verification_hours)
    context = {
        "css": CSS,
        "L": tx,
        "alert": alert,
        "disease_name": disease_name,
        "overdue": _overdue(alert, now),
        "fmt": lambda v: decimal(v, lang),
        "chart": chart,
        "curve": the_curve,
        "curve_rows": rows,
        "history": _history_rows(versions, names, tx),
        "actions": actions,
        "names": names,
        "allowed": allowed,
        "may_act": may_act,
        "decisions": DECISIONS,
        "action_statuses": ACTION_STATUSES,
        "officers": await _officers() if "assign" in allowed else [],
        "me": my_practitioner,
        "is_owner": bool(my_practitioner) and alert.owner == my_practitioner,
        "owner_name": names.get(alert.owner or "", None)
        or (alert.content.get("owner") or {}).get("display")
        or alert.owner,
        "default_due": _local_input(default_due, zone),
        "done": request.query_params.get("done"),
        "error": error,
        "zone": zone,
    }
    return render(request, "surveillance/alert.html", context, status=status)


async def alert_page(request: Request) -> Response:
    found, lang, tx = await surveillance_user(request)
    return await _alert_page(request, found, lang, tx, str(request.path_params["alert_id"]))


def _ref(value: str, kind: str) -> dict[str, Any]:
    value = value.strip()
    return {"reference": value if value.startswith(f"{kind}/") else f"{kind}/{value}"}


def _due(value: str, zone: ZoneInfo, tx: dict[str, str]) -> str | None:
    if not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(tx["bad_due"]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.isoformat(timespec="seconds")


def _parameters(action: str, form: FormData, zone: ZoneInfo, tx: dict[str, str]) -> list[dict[str, Any]]:
    """The operation's ``Parameters`` from the posted form (empty fields left out: the operation answers
    a missing required one with 400)."""

    def field(name: str) -> str:
        return str(form.get(name) or "").strip()

    out: list[dict[str, Any]] = []

    def add(name: str, kind: str, value: Any) -> None:
        if value not in (None, ""):
            out.append({"name": name, kind: value})

    if action == "triage":
        add("decision", "valueCode", field("decision"))
        if field("decision") == "duplicate" and field("duplicateOf"):
            add("duplicateOf", "valueReference", _ref(field("duplicateOf"), "Task"))
    elif action == "assign":
        if field("owner"):
            add("owner", "valueReference", _ref(field("owner"), "Practitioner"))
        add("due", "valueDateTime", _due(field("due"), zone, tx))
    elif action == "verify":
        add("outcome", "valueCode", field("outcome"))
    elif action == "respond":
        if field("actionTask"):
            add("actionTask", "valueReference", _ref(field("actionTask"), "Task"))
            add("status", "valueCode", field("status"))
        else:
            add("action", "valueString", field("action"))
            if field("actionOwner"):
                add("actionOwner", "valueReference", _ref(field("actionOwner"), "Practitioner"))
            add("actionDue", "valueDateTime", _due(field("actionDue"), zone, tx))
    elif action == "close":
        add("reason", "valueCode", field("reason"))
    add("note", "valueString", field("note"))
    return out


@csrf_protected
async def take_step(request: Request, form: FormData) -> Response:
    """``POST /app/surveillance/alerts/{id}/{action}``: the FHIR operation ``$alert-<action>`` as the user."""
    found, lang, tx = await surveillance_user(request)
    alert_id = str(request.path_params["alert_id"])
    action = str(request.path_params["action"])
    if action not in {a.value for a in Action}:
        raise refusal(404, tx, "no_alert")
    zone = _zone(request)
    async with fhir(request, found) as client:
        current = await _task(client, alert_id, tx)
    read_at = str(form.get("version") or "")
    if read_at and read_at != str(current.version):
        message = tx["stale"].format(now=current.version)
        return await _alert_page(request, found, lang, tx, alert_id, error=message, status=409)
    try:
        parameters = _parameters(action, form, zone, tx)
    except ValueError as e:
        return await _alert_page(request, found, lang, tx, alert_id, error=str(e), status=400)
    async with emr_fhir(request, found) as client:
        answer = await client.post_parameters(f"Task/{alert_id}/$alert-{action}", parameters)
    if not answer.ok:
        text = "; ".join(in_language(i.text, lang) for i in answer.issues) or str(answer.status)
        message = tx["error"].format(status=answer.status, message=text)
        return await _alert_page(request, found, lang, tx, alert_id, error=message, status=answer.status)
    step = next(
        (p.get("valueCode") for p in (answer.json or {}).get("parameter", []) if p.get("name") == "step"), ""
    )
    raise Redirect(f"/app/surveillance/alerts/{alert_id}?done={step}")


ROUTES: Final = [
    Route("/app/surveillance", inbox, methods=["GET"]),
    Route("/app/surveillance/alerts/{alert_id}", alert_page, methods=["GET"]),
    Route("/app/surveillance/alerts/{alert_id}/{action}", take_step, methods=["POST"]),
    *surveillance_map.ROUTES,
    *surveillance_linelist.ROUTES,
    *surveillance_bulletin.ROUTES,
]
