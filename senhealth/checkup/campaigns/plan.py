"""Plan a year's check-up campaign per commune station: who is invited, in which order, on which day.

:func:`plan_campaign` reads the target population of each station from the patient index
(:mod:`senhealth.checkup.campaigns.population`), leaves out everyone already covered this year (a valid
check-up at any facility under any of their linked records or personal ID: no double check-up), orders
the rest by priority (:func:`senhealth.checkup.campaigns.schedule.priority_key`) and fills the station's
working days with ``capacity_per_day`` people a day. The invitation list names each person's record,
name, contact phone (their mobile, else their contact's: a child's parent), priority groups, day and time.

With ``persist=True`` the plan is written as FHIR resources (:mod:`senhealth.checkup.campaigns.resources`),
one station at a time, each station's resources in one transaction: the Group, the CarePlan, and one
``proposed`` Appointment per invitation. Planning again is safe: appointments the station already moved on
(``booked``, ``arrived``, ``fulfilled``, ``noshow``) are kept, their people are not invited again and their
places are taken out of the day's capacity; ``proposed`` ones of people no longer on the list (checked up
meanwhile) become ``cancelled``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from senhealth.checkup.campaigns.coverage import select_stations
from senhealth.checkup.campaigns.population import ZONE, Station, Target, stations, targets
from senhealth.checkup.campaigns.resources import (
    appointment,
    appointment_id,
    care_plan,
    care_plan_id,
    target_group,
)
from senhealth.checkup.campaigns.schedule import Slot, assign, priority_key, working_days
from senhealth.fhir.store import FhirStore

__all__ = ["DEFAULT_CAPACITY", "CampaignPlan", "CommunePlan", "Invitation", "plan_campaign"]

DEFAULT_CAPACITY = 40
"""Check-ups a commune station does a day by default (two or three health workers, about ten minutes each)."""

_KEPT = ("booked", "arrived", "fulfilled", "noshow", "checked-in", "waitlist", "pending")


@dataclass(frozen=True, slots=True)
class Invitation:
    person: str
    patient_id: str
    name: str
    phone: str | None
    groups: tuple[str, ...]
    rank: int  # 1 = first in the station's list
    slot: Slot | None  # None: did not fit before the year's end
    appointment_id: str


@dataclass(slots=True)
class CommunePlan:
    station: Station
    target: int
    covered: int
    invitations: list[Invitation] = field(default_factory=list)
    unscheduled: list[Invitation] = field(default_factory=list)
    kept: int = 0  # appointments kept from an earlier plan (booked...)
    months: dict[int, int] = field(default_factory=dict)
    care_plan_id: str = ""

    @property
    def first_day(self) -> date | None:
        return self.invitations[0].slot.day if self.invitations and self.invitations[0].slot else None

    @property
    def last_day(self) -> date | None:
        return self.invitations[-1].slot.day if self.invitations and self.invitations[-1].slot else None


@dataclass(slots=True)
class CampaignPlan:
    year: int
    capacity_per_day: int
    communes: list[CommunePlan]
    persisted: bool = False

    @property
    def target(self) -> int:
        return sum(c.target for c in self.communes)

    @property
    def covered(self) -> int:
        return sum(c.covered for c in self.communes)


def _name(content: dict[str, Any]) -> str:
    names = content.get("name") or []
    if not names or not isinstance(names[0], dict):
        return ""
    n = names[0]
    return str(n.get("text") or " ".join([str(n.get("family", "")), *map(str, n.get("given", []))])).strip()


def _phone(telecoms: Any) -> str | None:
    phones = [
        t for t in telecoms or [] if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
    ]
    phones.sort(key=lambda t: t.get("use") != "mobile")
    return str(phones[0]["value"]) if phones else None


def contact_phone(content: dict[str, Any]) -> str | None:
    """The person's phone (mobile first), else their first contact's (a child's parent)."""
    own = _phone(content.get("telecom"))
    if own:
        return own
    for contact in content.get("contact") or []:
        if isinstance(contact, dict) and (phone := _phone(contact.get("telecom"))):
            return phone
    return None


_PATIENTS = "SELECT res_id, content FROM fhir_resource WHERE res_type = 'Patient' AND res_id = ANY(%s)"
_EXISTING = (
    "SELECT res_id, content ->> 'status', content ->> 'start' FROM fhir_resource "
    "WHERE res_type = 'Appointment' AND res_id = ANY(%s)"
)
_OF_PLAN = """
SELECT r.res_id, r.content FROM idx_reference x JOIN fhir_resource r ON r.pkey = x.pkey AND r.rid = x.rid
WHERE x.param_id = %s AND x.target_type = 'CarePlan' AND x.target_id = %s AND r.content ->> 'status' = 'proposed'
"""


async def _contents(store: FhirStore, sql: str, ids: list[str]) -> list[tuple[Any, ...]]:
    if not ids:
        return []
    async with store.pool.connection() as conn:
        return list(await (await conn.execute(sql, (ids,))).fetchall())


async def _plan_station(
    store: FhirStore,
    year: int,
    station: Station,
    people: list[Target],
    days: list[date],
    capacity: int,
) -> CommunePlan:
    plan = CommunePlan(station, target=len(people), covered=sum(p.covered for p in people))
    plan.care_plan_id = care_plan_id(year, station)
    waiting = [p for p in people if not p.covered]
    ids = {appointment_id(year, station, p.patient_id): p for p in waiting}
    taken: Counter[date] = Counter()
    kept: set[str] = set()
    for res_id, status, start in await _contents(store, _EXISTING, list(ids)):
        if status in _KEPT:
            kept.add(str(res_id))
            if start:
                taken[datetime.fromisoformat(start).astimezone(ZONE).date()] += 1
    plan.kept = len(kept)
    waiting = [p for p in waiting if appointment_id(year, station, p.patient_id) not in kept]
    waiting.sort(key=lambda p: priority_key(p.groups, p.birth, p.person))
    details = {str(r): c for r, c in await _contents(store, _PATIENTS, [p.patient_id for p in waiting])}
    scheduled, left = assign(waiting, days, capacity, taken)
    ordered: list[tuple[Target, Slot | None]] = [*scheduled, *((p, None) for p in left)]
    for rank, (person, slot) in enumerate(ordered, 1):
        content = details.get(person.patient_id, {})
        invitation = Invitation(
            person=person.person,
            patient_id=person.patient_id,
            name=_name(content),
            phone=contact_phone(content),
            groups=person.groups,
            rank=rank,
            slot=slot,
            appointment_id=appointment_id(year, station, person.patient_id),
        )
        (plan.invitations if slot is not None else plan.unscheduled).append(invitation)
    plan.months = dict(sorted(Counter(i.slot.day.month for i in plan.invitations if i.slot).items()))
    return plan


async def _persist(store: FhirStore, year: int, plan: CommunePlan, today: date) -> None:
    station = plan.station
    resources: list[dict[str, Any]] = [
        target_group(year, station, plan.target),
        care_plan(
            year,
            station,
            target=plan.target,
            covered=plan.covered,
            months=plan.months,
            unscheduled=len(plan.unscheduled),
        ),
    ]
    wanted = set()
    for inv in plan.invitations:
        assert inv.slot is not None
        wanted.add(inv.appointment_id)
        resources.append(
            appointment(
                year,
                station,
                patient_id=inv.patient_id,
                patient_name=inv.name,
                groups=inv.groups,
                rank=inv.rank,
                slot=inv.slot,
                created=today,
            )
        )
    ids = await store.param_ids()
    async with store.pool.connection() as conn:
        stale = await (
            await conn.execute(_OF_PLAN, (ids[("Appointment", "supporting-info")], plan.care_plan_id))
        ).fetchall()
    for res_id, content in stale:
        if str(res_id) not in wanted:
            content = dict(content)
            content.pop("meta", None)
            content["status"] = "cancelled"
            content["cancelationReason"] = {
                "text": "Đã khám hoặc không còn trong danh sách mời / Checked up or no longer invited"
            }
            resources.append(content)
    report = await store.load(resources, batch_size=len(resources) + 1, on_error="raise")
    if report.rejected:
        raise ValueError(f"The campaign resources were refused: {report.rejected[0]}")


async def plan_campaign(
    store: FhirStore,
    year: int,
    *,
    communes: Iterable[str] | None = None,
    capacity_per_day: int = DEFAULT_CAPACITY,
    start: date | None = None,
    holidays: Iterable[date] = (),
    remote_communes: Iterable[str] = (),
    persist: bool = False,
    today: date | None = None,
) -> CampaignPlan:
    """Plan ``year``'s check-ups for the stations of ``communes`` (commune codes or Organization ids; None: all).

    ``capacity_per_day``: check-ups a station does a working day; ``start``: the first day (default
    1 January, or today when planning the current year late); ``holidays``: extra days off;
    ``remote_communes``: commune codes of remote communes (priority group ``remote``; also island special
    zones). ``persist``: write the Group, CarePlan and Appointments (module docstring).
    Raises ValueError for a bad argument or an unknown commune.
    """
    if not 2000 <= year <= 2100:
        raise ValueError("year must be between 2000 and 2100")
    if capacity_per_day < 1 or capacity_per_day > 1000:
        raise ValueError("capacity_per_day must be between 1 and 1000")
    today = today or datetime.now(ZONE).date()
    days = working_days(year, start, holidays)
    chosen = select_stations(await stations(store, remote_communes=remote_communes), communes)
    chosen.sort(key=lambda s: not s.remote)  # remote communes first (stable: then by commune code)
    people = await targets(store, year, chosen)
    by_station: dict[str, list[Target]] = {}
    for person in people:
        by_station.setdefault(person.organization_id, []).append(person)
    plans = []
    for station in chosen:
        plan = await _plan_station(
            store, year, station, by_station.get(station.organization_id, []), days, capacity_per_day
        )
        if persist:
            await _persist(store, year, plan, today)
        plans.append(plan)
    return CampaignPlan(year, capacity_per_day, plans, persisted=persist)
