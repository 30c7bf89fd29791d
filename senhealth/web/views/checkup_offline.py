"""The check-up form offline: the version a form started from, conflicts, the idempotency of a
submission, and the station's service worker (issue 7, build item 6; docs/web-checkup.md, "Offline").

- **Base version.** A form carries the state of the patient it was opened on, ``<checkup>|<birth>|<sex>``:
  ``<checkup>`` is the patient's most recently updated check-up Encounter the user can see, as
  ``Encounter/<id>/_history/<versionId>``, or ``none``; ``<birth>`` and ``<sex>`` are the Patient's
  ``birthDate`` and ``gender`` (they choose the form and the age it is filled for). Other changes of the
  Patient (an address, a phone number) are not conflicts: a check-up writes nothing of the Patient.
  When a saved form's base differs from the patient's base now, a colleague saved (or corrected) a
  check-up of the patient meanwhile, or the birth date or sex changed: nothing is written, and the
  worker is shown what is on the server beside their own values (:class:`Conflict`).
- **Idempotency.** A submission carries a client-made id (``submission``, a UUID): the check-up
  Encounter gets it as an identifier (``https://senhealth.vn/fhir/sid/checkup-submission``), so a second
  send of the same submission finds it and saves nothing twice (or completes a response that an
  interrupted save left unwritten). Checks and writes of one patient run under a PostgreSQL advisory
  lock (two stations' syncs, or two tabs, cannot both pass the version check).
- **Service worker** (``GET /app/station/sw.js``, scope ``/app/station``): the station's pages, the
  forms visited and the static assets, network first with the cache as fallback
  (``static/checkup-sw.js``); the outbox and the sync are ``static/checkup-offline.js``.

Spec: https://hl7.org/fhir/R4/http.html#versioning (versionId), https://www.w3.org/TR/service-workers/
(``Service-Worker-Allowed``), https://hl7.org/fhir/R4/encounter.html (identifier, participant).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from senhealth.core.db import get_pool
from senhealth.web.fhir_client import FhirClient, FhirError, resources
from senhealth.web.views.checkup_questionnaire import Section

__all__ = [
    "CHECKUP_SYSTEM",
    "RESOLUTIONS",
    "SUBMISSION_SYSTEM",
    "SYNC_TAG_SYSTEM",
    "Base",
    "Conflict",
    "base_of",
    "conflict_of",
    "latest_checkup",
    "new_submission",
    "patient_lock",
    "recorded_time",
    "service_worker",
    "submitted",
    "valid_submission",
]

CHECKUP_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/encounter-type"
SUBMISSION_SYSTEM: Final = "https://senhealth.vn/fhir/sid/checkup-submission"
SYNC_TAG_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/checkup-sync"
#: A worker's answer to a conflict: save the check-up as one more beside the colleague's.
RESOLUTIONS: Final = ("keep-both",)
#: How far back a check-up recorded on the device may be dated (older: dated when it arrives).
MAX_OFFLINE_AGE: Final = dt.timedelta(days=30)
_SUBMISSION: Final = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_SW: Final = Path(__file__).resolve().parent.parent / "static" / "checkup-sw.js"
_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtextextended('checkup.save:' || %s, 0))"


@dataclass(frozen=True, slots=True)
class Base:
    """The version a form started from (see the module docstring)."""

    checkup: str  # Encounter/<id>/_history/<vid>, or "none"
    birth: str
    sex: str

    def __str__(self) -> str:
        return f"{self.checkup}|{self.birth}|{self.sex}"

    @classmethod
    def parse(cls, text: str) -> Base | None:
        parts = text.strip().split("|")
        if len(parts) != 3 or not parts[0]:
            return None
        return cls(*parts)


def new_submission() -> str:
    return str(uuid.uuid4())


def valid_submission(text: str) -> bool:
    return bool(_SUBMISSION.match(text))


async def latest_checkup(client: FhirClient, patient_id: str) -> dict[str, Any] | None:
    """The patient's most recently updated check-up Encounter the user can see."""
    bundle = await client.search(
        "Encounter",
        [
            ("subject", f"Patient/{patient_id}"),
            ("type", f"{CHECKUP_SYSTEM}|checkup"),
            ("_sort", "-_lastUpdated"),
            ("_count", "1"),
        ],
    )
    return next(resources(bundle, "Encounter"), None)


def base_of(patient: dict[str, Any], latest: dict[str, Any] | None) -> Base:
    checkup = "none"
    if latest is not None:
        checkup = f"Encounter/{latest['id']}/_history/{(latest.get('meta') or {}).get('versionId', '1')}"
    return Base(checkup, str(patient.get("birthDate") or ""), str(patient.get("gender") or ""))


async def submitted(client: FhirClient, submission: str) -> tuple[dict[str, Any] | None, bool]:
    """The check-up Encounter of an earlier send of ``submission`` (or None), and whether its
    QuestionnaireResponse was written."""
    bundle = await client.search("Encounter", [("identifier", f"{SUBMISSION_SYSTEM}|{submission}")])
    encounter = next(resources(bundle, "Encounter"), None)
    if encounter is None:
        return None, False
    answers = await client.search(
        "QuestionnaireResponse", [("encounter", f"Encounter/{encounter['id']}"), ("_count", "1")]
    )
    return encounter, next(resources(answers, "QuestionnaireResponse"), None) is not None


@asynccontextmanager
async def patient_lock(patient_id: str) -> AsyncIterator[None]:
    """Serialise the version check and the writes of one patient's check-ups (across processes): a
    transaction-level advisory lock held on a connection of its own while the FHIR API writes."""
    async with get_pool().connection() as conn, conn.transaction():
        await conn.execute(_LOCK, (patient_id,))
        yield


def recorded_time(text: str | None, now: dt.datetime) -> dt.datetime:
    """When the check-up was done: the device's time for a check-up kept offline (with its offset),
    when it is neither in the future (5 minutes of clock drift allowed) nor older than
    :data:`MAX_OFFLINE_AGE`; otherwise now."""
    if not text:
        return now
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return now
    if when.tzinfo is None:
        return now
    when = when.astimezone(now.tzinfo).replace(microsecond=0)
    if when > now + dt.timedelta(minutes=5) or when < now - MAX_OFFLINE_AGE:
        return now
    return when


# --- what is on the server, beside the worker's values ---------------------------------------------------


@dataclass(slots=True)
class Conflict:
    """Why a submission was not saved, and what is on the server now."""

    kind: str  # "checkup" (a check-up saved or changed meanwhile) or "patient" (birth date or sex changed)
    base: str  # the version to resolve against
    encounter: str = ""
    when: str = ""
    who: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)  # linkId, label, mine, theirs

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "conflict",
            "kind": self.kind,
            "base": self.base,
            "current": {"encounter": self.encounter, "when": self.when, "who": self.who},
            "rows": self.rows,
        }


def _answer_values(items: list[dict[str, Any]], out: dict[str, Any]) -> None:
    for item in items:
        if item.get("item"):
            _answer_values(item["item"], out)
        for answer in item.get("answer") or []:
            value = next((v for k, v in answer.items() if k.startswith("value")), None)
            if value is not None:
                out[str(item.get("linkId"))] = value


def _display(value: Any, options: dict[str, str], gettext: Callable[[str], str]) -> str:
    if isinstance(value, bool) or value in ("true", "false"):
        return gettext("Yes") if value in (True, "true") else gettext("No")
    if isinstance(value, dict):  # a Coding
        code = str(value.get("code") or "")
        return options.get(code) or str(value.get("display") or code)
    text = str(value)
    return options.get(text, text)


async def conflict_of(
    client: FhirClient,
    kind: str,
    base: Base,
    latest: dict[str, Any] | None,
    sections: list[Section],
    mine: dict[str, str],
    gettext: Callable[[str], str],
) -> Conflict:
    """The conflict shown to the worker: who saved the check-up now on the server, when, and its
    values beside the worker's, item by item in the form's order."""
    found = Conflict(kind=kind, base=str(base))
    theirs: dict[str, Any] = {}
    if latest is not None:
        found.encounter = f"Encounter/{latest['id']}"
        found.when = str(
            (latest.get("period") or {}).get("start") or (latest.get("meta") or {}).get("lastUpdated")
        )
        people = [
            str((p.get("individual") or {}).get("display") or "") for p in latest.get("participant") or []
        ]
        found.who = ", ".join(p for p in people if p) or str(
            (latest.get("serviceProvider") or {}).get("display")
            or (latest.get("serviceProvider") or {}).get("reference")
            or ""
        )
        try:
            bundle = await client.search(
                "QuestionnaireResponse", [("encounter", f"Encounter/{latest['id']}"), ("_count", "1")]
            )
        except FhirError:
            bundle = {}
        for response in resources(bundle, "QuestionnaireResponse"):
            _answer_values(response.get("item") or [], theirs)
    for section in sections:
        for f in section.fields:
            if f.display_only or f.readonly:
                continue
            options = dict(f.options)
            left = mine.get(f.link_id, "").strip()
            right = theirs.get(f.link_id)
            if not left and right is None:
                continue
            found.rows.append(
                {
                    "linkId": f.link_id,
                    "label": f.text,
                    "mine": _display(left, options, gettext) if left else "",
                    "theirs": _display(right, options, gettext) if right is not None else "",
                }
            )
    return found


# --- the service worker --------------------------------------------------------------------------------


@cache
def _sw_source() -> bytes:
    return _SW.read_bytes()


async def service_worker(request: Request) -> Response:
    """The station's service worker, allowed the scope ``/app/station`` (the station page itself, which
    the script's own folder ``/app/station/`` would not cover). It holds no patient data."""
    return Response(
        _sw_source(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/app/station", "Cache-Control": "no-cache"},
    )
