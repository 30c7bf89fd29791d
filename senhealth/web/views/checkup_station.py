"""The commune health station's pages (issue 7, build item 6; docs/web-checkup.md).

- ``GET /app/station``: the station's day: today's check-up Appointments of the campaign, a patient
  search for walk-ins, each with "start check-up"; the station's coverage of the year
  (:func:`senhealth.checkup.campaigns.coverage`) and links to the worklists.
- ``GET /app/station/checkup/{patient_id}``: the check-up form, the Questionnaire for the patient's age
  and sex (:func:`senhealth.checkup.forms.form_for`, read from the store by its canonical URL when it is
  installed there). ``POST`` the same path: the check-up Encounter is created (type
  ``encounter-type|checkup``, class AMB, serviceProvider the user's facility, status finished), the
  QuestionnaireResponse goes to ``QuestionnaireResponse/$extract?persist=true``; then the risks are
  computed and the registries updated in this request (:func:`senhealth.checkup.assessment.assess`,
  :func:`senhealth.checkup.registries.enrol`), and the browser goes to the result.
- ``GET /app/station/checkup/{patient_id}/result``: :mod:`.checkup_result`.
- ``GET /app/station/worklists?kind=overdue|uncontrolled|tests-missing``:
  :func:`senhealth.checkup.registries.worklist` of the user's facility.

Patient data is read and written through the FHIR API as the signed-in user (the access policy and the
audit apply). The assessment, enrolment, worklists and coverage are the domain functions on the store:
they run only for a care role of a facility, only for that facility's station, and only after the user
could read the patient through the API.

Offline (:mod:`.checkup_offline`): the form carries the version it started from (``base``) and a
submission id; a save whose base is no longer the patient's writes nothing and shows the conflict (409),
a second send of one submission saves nothing twice. ``POST /app/station/sync`` (JSON) is the same save
for the check-ups a tablet kept while offline; ``GET /app/station/sw.js`` the service worker.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from senhealth.checkup.assessment import assess
from senhealth.checkup.campaigns import coverage
from senhealth.checkup.forms import form_for
from senhealth.checkup.registries import KINDS, WorklistError, enrol, worklist
from senhealth.security.policy import CARE_ROLES
from senhealth.web import csrf
from senhealth.web.context import (
    PageError,
    Redirect,
    csrf_protected,
    fhir,
    lang_of,
    render,
    require_staff,
    state,
    t,
)
from senhealth.web.fhir_client import FhirClient, FhirError, resources
from senhealth.web.i18n import N_
from senhealth.web.record import patient_name
from senhealth.web.sessions import Session
from senhealth.web.views.checkup_offline import (
    RESOLUTIONS,
    SUBMISSION_SYSTEM,
    SYNC_TAG_SYSTEM,
    Base,
    Conflict,
    base_of,
    conflict_of,
    latest_checkup,
    new_submission,
    patient_lock,
    recorded_time,
    service_worker,
    submitted,
    valid_submission,
)
from senhealth.web.views.checkup_questionnaire import FieldError, form_sections, response_items
from senhealth.web.views.checkup_result import result_context
from senhealth.web.views.emr_fhir import emr_fhir, issues_of

__all__ = ["ROUTES"]

ZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")
CHECKUP_TYPE: Final = {
    "system": "https://senhealth.vn/fhir/CodeSystem/encounter-type",
    "code": "checkup",
    "display": "Khám sức khỏe",
}
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACCOUNT: Final = "https://senhealth.vn/fhir/sid/account"
PATIENT_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
CCCD: Final = "https://senhealth.vn/fhir/sid/cccd"
CSS: Final = "/static/web/checkup-station.css"
#: The worklists' names, shown through the catalogue (``_(kind)`` in the templates).
KIND_LABELS: Final = (N_("overdue"), N_("uncontrolled"), N_("tests-missing"))


def _facility(found: Session) -> str:
    if found.role not in CARE_ROLES or not found.facility:
        raise PageError(403, N_("The station's pages are for health workers of a facility."))
    return found.facility.removeprefix("Organization/")


def _today() -> dt.date:
    return dt.datetime.now(ZONE).date()


def _age(patient: dict[str, Any], today: dt.date) -> int | None:
    try:
        born = dt.date.fromisoformat(str(patient.get("birthDate") or "")[:10])
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _cccd(patient: dict[str, Any]) -> str:
    return next((str(i.get("value")) for i in patient.get("identifier") or [] if i.get("system") == CCCD), "")


def _row(patient: dict[str, Any], today: dt.date, when: str = "") -> dict[str, Any]:
    return {
        "id": patient.get("id"),
        "name": patient_name(patient),
        "birth": patient.get("birthDate", ""),
        "age": _age(patient, today),
        "gender": patient.get("gender", ""),
        "cccd": _cccd(patient),
        "when": when,
    }


async def _todays_list(client: FhirClient, today: dt.date) -> list[dict[str, Any]]:
    """Today's check-up Appointments the user may see (the access policy keeps them to the station's
    patients), with their patients."""
    search = [
        ("date", today.isoformat()),
        ("service-type", f"{CHECKUP_TYPE['system']}|checkup"),
        ("_include", "Appointment:patient"),
        ("_count", "200"),
    ]
    try:
        bundle = await client.search("Appointment", search)
    except FhirError:
        return []
    patients = {p.get("id"): p for p in resources(bundle, "Patient")}
    out = []
    for appointment in resources(bundle, "Appointment"):
        if appointment.get("status") in ("cancelled", "noshow", "entered-in-error"):
            continue
        for participant in appointment.get("participant") or []:
            ref = str((participant.get("actor") or {}).get("reference") or "")
            if ref.startswith("Patient/") and ref.removeprefix("Patient/") in patients:
                start = str(appointment.get("start") or "")
                out.append(_row(patients[ref.removeprefix("Patient/")], today, start[11:16]))
    return sorted(out, key=lambda r: (r["when"], r["name"]))


async def station_page(request: Request) -> Response:
    found = await require_staff(request)
    facility = _facility(found)
    today = _today()
    query = request.query_params.get("q", "").strip()
    async with fhir(request, found) as client:
        todays = await _todays_list(client, today)
        walk_ins: list[dict[str, Any]] = []
        if query:
            param = "identifier" if query.isdigit() else "name"
            value = f"{CCCD}|{query}" if param == "identifier" else query
            found_patients = await client.search_all("Patient", [(param, value), ("_count", "20")], pages=1)
            walk_ins = [_row(p, today) for p in found_patients]
    store = state(request).fhir_store
    rows = []
    try:
        rows = await coverage(store, today.year, communes=[facility])
    except ValueError:
        rows = []
    cover = rows[0] if rows else None
    context = {
        "css": CSS,
        "today": today,
        "todays": todays,
        "query": query,
        "walk_ins": walk_ins,
        "coverage": cover,
        "rate": round(100 * cover.covered / cover.target, 1) if cover and cover.target else None,
        "year": today.year,
        "kinds": KINDS,
    }
    return render(request, "checkup/station.html", context)


async def _patient(client: FhirClient, patient_id: str) -> dict[str, Any]:
    try:
        return await client.read("Patient", patient_id)
    except FhirError as exc:
        if exc.status in (403, 404, 410):
            raise PageError(404, N_("This patient is not known, or not in your care.")) from None
        raise


async def _questionnaire(client: FhirClient, age: int, sex: str) -> dict[str, Any]:
    """The form for the patient's age and sex: the stored Questionnaire of that canonical URL and
    version when installed, else the packaged one."""
    packaged = form_for(age, sex)
    try:
        stored = await client.search_all(
            "Questionnaire", [("url", packaged["url"]), ("version", packaged["version"])], pages=1
        )
    except FhirError:
        stored = []
    return stored[0] if stored else packaged


_LOINC = "http://loinc.org"
_RESULTS_WITHIN_DAYS: Final = 365


def _loinc_items(questionnaire: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """LOINC code → (linkId, UCUM unit) of the form's number items."""
    out: dict[str, tuple[str, str]] = {}
    stack = list(questionnaire.get("item") or [])
    while stack:
        item = stack.pop()
        stack.extend(item.get("item") or [])
        if item.get("type") not in ("decimal", "integer"):
            continue
        unit = next(
            (
                str((e.get("valueCoding") or {}).get("code") or "")
                for e in item.get("extension") or []
                if str(e.get("url", "")).endswith("questionnaire-unit")
            ),
            "",
        )
        for coding in item.get("code") or []:
            if coding.get("system") == _LOINC and coding.get("code"):
                out[str(coding["code"])] = (str(item["linkId"]), unit)
    return out


async def _results_to_import(
    client: FhirClient, patient_id: str, questionnaire: dict[str, Any], today: dt.date
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Laboratory results of the last 12 months (e.g. from the hospital) for the form's number items: the
    values to pre-fill (linkId → value) and, for the page, where each came from. A result in another unit
    than the item's is left for the worker to enter."""
    wanted = _loinc_items(questionnaire)
    if not wanted:
        return {}, []
    since = (today - dt.timedelta(days=_RESULTS_WITHIN_DAYS)).isoformat()
    try:
        found = await client.search_all(
            "Observation",
            [
                ("patient", patient_id),
                ("category", "laboratory"),
                ("code", ",".join(f"{_LOINC}|{code}" for code in sorted(wanted))),
                ("date", f"ge{since}"),
                ("status", "final,amended,corrected"),
                ("_sort", "-date"),
                ("_count", 100),
            ],
            pages=2,
        )
    except FhirError:
        return {}, []
    values: dict[str, str] = {}
    sources: list[dict[str, str]] = []
    for obs in found:  # newest first: the first result of each code wins
        quantity = obs.get("valueQuantity") or {}
        codes = [
            str(c.get("code"))
            for c in (obs.get("code") or {}).get("coding") or []
            if c.get("system") == _LOINC
        ]
        for code in codes:
            if code not in wanted or wanted[code][0] in values:
                continue
            link_id, unit = wanted[code]
            if not isinstance(quantity.get("value"), int | float) or (unit and quantity.get("code") != unit):
                continue
            values[link_id] = f"{quantity['value']:g}"
            performer = next(
                (str(p.get("display")) for p in obs.get("performer") or [] if p.get("display")), ""
            )
            sources.append(
                {
                    "link_id": link_id,
                    "value": values[link_id],
                    "unit": unit,
                    "date": str(obs.get("effectiveDateTime") or obs.get("issued") or "")[:10],
                    "performer": performer,
                }
            )
    return values, sources


async def _form_context(
    request: Request, found: Session, patient_id: str, values: dict[str, str] | None = None
) -> dict[str, Any]:
    _facility(found)
    today = _today()
    async with fhir(request, found) as client:
        patient = await _patient(client, patient_id)
        age = _age(patient, today)
        sex = patient.get("gender")
        if age is None or sex not in ("male", "female"):
            raise PageError(
                422, N_("The check-up form needs the patient's birth date and sex (male or female).")
            )
        questionnaire = await _questionnaire(client, age, str(sex))
        try:
            latest = await latest_checkup(client, patient_id)
        except FhirError:
            latest = None
        imported: list[dict[str, str]] = []
        if values is None:  # a new form: the recent hospital / laboratory results filled in, shown as such
            values, imported = await _results_to_import(client, patient_id, questionnaire, today)
    lang = lang_of(request)
    title = questionnaire.get("title", "")
    if lang != "vi":
        title = next(
            (
                str(e2.get("valueString"))
                for e in (questionnaire.get("_title") or {}).get("extension") or []
                for e2 in e.get("extension") or []
                if e2.get("url") == "content"
            ),
            title,
        )
    return {
        "css": CSS,
        "patient": _row(patient, today),
        "patient_resource": patient,
        "age": age,
        "sex": str(sex),
        "questionnaire": questionnaire,
        "form_title": title,
        "sections": form_sections(questionnaire, lang=lang, age=age, values=values),
        "imported": imported,
        "base": str(base_of(patient, latest)),
        "submission": new_submission(),
        "error": None,
        "error_item": None,
        "conflict": None,
    }


async def form_page(request: Request) -> Response:
    found = await require_staff(request)
    context = await _form_context(request, found, request.path_params["patient_id"])
    return render(request, "checkup/form.html", context)


def _posted(form: FormData) -> dict[str, str]:
    return {k.removeprefix("q:"): str(v) for k, v in form.items() if k.startswith("q:")}


def _link_id_of(text: str) -> str | None:
    """The linkId an ``$extract`` refusal names (``linkId X: ...``)."""
    head, sep, _ = text.partition(":")
    return head.removeprefix("linkId ").strip() if sep and head.startswith("linkId ") else None


@dataclass(frozen=True, slots=True)
class Saved:
    result: str  # the result page
    encounter: str
    already: bool = False  # an earlier send of the same submission had saved it


@dataclass(frozen=True, slots=True)
class Refused:
    text: str
    item: str | None
    status: int


def _refusal(outcome: dict[str, Any], status: int) -> Refused:
    issues = issues_of(outcome)
    text = issues[0].text if issues else str(status)
    return Refused(text, _link_id_of(text), 422 if status < 500 else 502)


async def save_checkup(
    request: Request,
    found: Session,
    context: dict[str, Any],
    posted: dict[str, str],
    *,
    base: str | None,
    submission: str | None,
    recorded: str | None = None,
    resolution: str | None = None,
    offline: bool = False,
) -> Saved | Refused | Conflict:
    """Save one check-up (docs/web-checkup.md, "Saving a check-up" and "Offline"), for the form's POST
    and the tablet's sync alike. ``base``: the version the form started from (None: not checked, a form
    of an older page); ``submission``: the client's id of this submission (None: no idempotency)."""
    facility = _facility(found)
    patient_id = str(context["patient"]["id"])
    questionnaire, age = context["questionnaire"], context["age"]
    expected = Base.parse(base) if base is not None else None
    if base is not None and expected is None:
        return Refused("the form's version (base) is not readable", None, 400)
    try:
        items = response_items(questionnaire, posted, age=age)
    except FieldError as exc:
        return Refused(exc.text, exc.link_id, 422)
    now = dt.datetime.now(ZONE).replace(microsecond=0)
    when = recorded_time(recorded, now)
    result = f"/app/station/checkup/{patient_id}/result?done=1"
    async with patient_lock(patient_id):
        earlier: dict[str, Any] | None = None
        async with fhir(request, found) as client:
            if submission is not None:
                earlier, answered = await submitted(client, submission)
                if earlier is not None and answered:
                    return Saved(result, f"Encounter/{earlier['id']}", already=True)
            if earlier is None and expected is not None:
                latest = await latest_checkup(client, patient_id)
                current = base_of(context["patient_resource"], latest)
                if current != expected:
                    kind = (
                        "checkup"
                        if (current.birth, current.sex) == (expected.birth, expected.sex)
                        else "patient"
                    )
                    tr = t(request)
                    return await conflict_of(
                        client, kind, current, latest, context["sections"], posted, tr.gettext
                    )
        tags = [{"system": SYNC_TAG_SYSTEM, "code": "offline"}] if offline else []
        if resolution in RESOLUTIONS:
            tags.append({"system": SYNC_TAG_SYSTEM, "code": str(resolution)})
        encounter: dict[str, Any] = {
            "resourceType": "Encounter",
            **({"meta": {"tag": tags}} if tags else {}),
            **({"identifier": [{"system": SUBMISSION_SYSTEM, "value": submission}]} if submission else {}),
            "status": "finished",
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "type": [{"coding": [CHECKUP_TYPE], "text": "Khám sức khỏe định kỳ"}],
            "subject": {"reference": f"Patient/{patient_id}"},
            "participant": [
                {
                    "individual": {
                        "identifier": {"system": ACCOUNT, "value": found.account_id},
                        "display": found.display_name or found.username,
                    }
                }
            ],
            "period": {"start": when.isoformat(), "end": when.isoformat()},
            "serviceProvider": {"reference": f"Organization/{facility}"},
        }
        response: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
            "status": "completed",
            "subject": {"reference": f"Patient/{patient_id}"},
            "authored": when.isoformat(),
            "item": items,
        }
        async with emr_fhir(request, found) as api:
            # check the answers before anything is written: $extract without persist writes nothing
            response["encounter"] = {"reference": "Encounter/pending"}
            dry = await api.post_raw(
                "QuestionnaireResponse/$extract", orjson.dumps(response), "application/fhir+json"
            )
            if not dry.ok:
                return _refusal(dry.json or {}, dry.status)
            if earlier is None:
                created = await api.post_raw("Encounter", orjson.dumps(encounter), "application/fhir+json")
                if not created.ok or created.json is None:
                    return _refusal(created.json or {}, created.status)
                earlier = created.json
            response["encounter"] = {"reference": f"Encounter/{earlier['id']}"}
            answer = await api.post_raw(
                "QuestionnaireResponse/$extract?persist=true", orjson.dumps(response), "application/fhir+json"
            )
            if not answer.ok:
                return _refusal(answer.json or {}, answer.status)
    store = state(request).fhir_store
    await assess(store, patient_id)
    await enrol(store, patient_id)
    return Saved(result, f"Encounter/{earlier['id']}")


async def submit_checkup(request: Request, form: FormData) -> Response:
    found = await require_staff(request)
    patient_id = request.path_params["patient_id"]
    posted = _posted(form)
    context = await _form_context(request, found, patient_id, posted)
    submission = str(form.get("submission") or "").strip()
    resolution = str(form.get("resolution") or "") or None
    outcome = await save_checkup(
        request,
        found,
        context,
        posted,
        base=str(form["base"]) if "base" in form else None,
        submission=submission if valid_submission(submission) else None,
        resolution=resolution if resolution in RESOLUTIONS else None,
    )
    if isinstance(outcome, Saved):
        raise Redirect(outcome.result)
    if isinstance(outcome, Conflict):
        # the worker sees the colleague's check-up beside theirs; saving again is a choice, on the new base
        context.update(conflict=outcome, base=outcome.base, submission=submission or new_submission())
        return render(request, "checkup/form.html", context, status=409)
    context.update(error=outcome.text, error_item=outcome.item)
    if submission:
        context["submission"] = submission
    return render(request, "checkup/form.html", context, status=outcome.status)


def _json_error(status: int, kind: str, message: str = "") -> JSONResponse:
    return JSONResponse({"status": kind, "message": message}, status_code=status)


async def sync_checkup(request: Request) -> Response:
    """``POST /app/station/sync``: one check-up kept on the tablet while offline (JSON, below), saved as
    the form's POST saves it. Answers: 200 ``saved`` (``result``: the result page; ``already``: an earlier
    send had saved it), 409 ``conflict`` (:meth:`Conflict.as_json`, nothing written), 422 ``refused``
    (``item``: the linkId), 401 ``signed-out``, 403 ``forbidden``, 400 ``bad-request``.

    Body: ``{"submission", "patient", "base", "answers": {linkId: value}, "recorded", "resolution"?}``;
    the CSRF token in the ``X-CSRF-Token`` header."""
    try:
        found = await require_staff(request)
        _facility(found)
    except Redirect:
        return _json_error(401, "signed-out")
    except PageError as exc:
        return _json_error(exc.status, "forbidden", exc.message)
    if not csrf.check(state(request).keys, request.headers.get(csrf.HEADER), session_id=found.id):
        return _json_error(403, "forbidden", "csrf")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _json_error(400, "bad-request", "a JSON object is expected")
    patient_id, submission, base = body.get("patient"), body.get("submission"), body.get("base")
    answers, recorded, resolution = body.get("answers"), body.get("recorded"), body.get("resolution")
    fine = (
        isinstance(patient_id, str)
        and bool(PATIENT_ID.match(patient_id))
        and isinstance(submission, str)
        and valid_submission(submission)
        and isinstance(base, str)
        and isinstance(answers, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in answers.items())
        and (recorded is None or isinstance(recorded, str))
        and (resolution is None or resolution in RESOLUTIONS)
    )
    if not fine:
        return _json_error(400, "bad-request", "patient, submission, base and answers are required")
    assert isinstance(patient_id, str) and isinstance(answers, dict)
    try:
        context = await _form_context(request, found, patient_id, answers)
        outcome = await save_checkup(
            request,
            found,
            context,
            answers,
            base=str(base),
            submission=str(submission),
            recorded=recorded if isinstance(recorded, str) else None,
            resolution=str(resolution) if resolution else None,
            offline=True,
        )
    except Redirect:
        return _json_error(401, "signed-out")
    except PageError as exc:
        return _json_error(exc.status, "forbidden" if exc.status == 403 else "refused", exc.message)
    if isinstance(outcome, Saved):
        payload = {"status": "saved", "result": outcome.result, "encounter": outcome.encounter}
        return JSONResponse({**payload, "already": outcome.already})
    if isinstance(outcome, Conflict):
        return JSONResponse(outcome.as_json(), status_code=409)
    return JSONResponse(
        {"status": "refused", "item": outcome.item, "message": outcome.text}, status_code=outcome.status
    )


async def result_page(request: Request) -> Response:
    found = await require_staff(request)
    _facility(found)
    patient_id = request.path_params["patient_id"]
    today = _today()
    async with fhir(request, found) as client:
        patient = await _patient(client, patient_id)
        age = _age(patient, today)
        context = await result_context(client, patient_id, age, lang_of(request))
    context.update(css=CSS, patient=_row(patient, today), done=request.query_params.get("done") == "1")
    return render(request, "checkup/result.html", context)


async def worklists_page(request: Request) -> Response:
    found = await require_staff(request)
    facility = _facility(found)
    kind = request.query_params.get("kind", "uncontrolled")
    try:
        items = await worklist(state(request).fhir_store, facility, kind)
    except WorklistError:
        raise PageError(
            400, N_("Choose one of the worklists: overdue, uncontrolled or tests missing.")
        ) from None
    lang = lang_of(request)
    rows = [
        {
            "id": i.patient_id,
            "name": i.name,
            "phone": i.phone or "",
            "registry": i.registry,
            "reason": i.reason_vi if lang == "vi" else i.reason_en,
            "last_visit": i.last_visit,
            "due": i.due,
        }
        for i in items
    ]
    return render(request, "checkup/worklists.html", {"css": CSS, "kind": kind, "kinds": KINDS, "rows": rows})


ROUTES = [
    Route("/app/station", station_page, methods=["GET"]),
    Route("/app/station/worklists", worklists_page, methods=["GET"]),
    Route("/app/station/sw.js", service_worker, methods=["GET"]),
    Route("/app/station/sync", sync_checkup, methods=["POST"]),
    Route("/app/station/checkup/{patient_id:str}", form_page, methods=["GET"]),
    Route("/app/station/checkup/{patient_id:str}", csrf_protected(submit_checkup), methods=["POST"]),
    Route("/app/station/checkup/{patient_id:str}/result", result_page, methods=["GET"]),
]
