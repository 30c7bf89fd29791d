"""The campaign's population read from the patient index: stations, people, priority groups, who is covered.

Everything here is SQL over the FHIR store's search-index tables (``idx_token``, ``idx_date``,
``idx_reference``; docs/storage.md), one statement per question, never a query per person:

- **registered citizens**: a Patient is registered at the commune health station its
  ``managingOrganization`` names (the demo province and the MPI write the station there); the station's
  commune is the administrative-unit extension of the Organization's address. Targets are the living
  (``deceased`` not true) and active (``active`` not false: a record merged into another is inactive)
  registered Patients;
- **one person, one count**: records of the same person are joined by the patient index, through
  ``Patient.link`` (any link type: each links two records of the same individual,
  https://hl7.org/fhir/R4/patient-definitions.html#Patient.link, followed transitively) and through the
  personal ID (CCCD) identifier: the person key is ``c:<personal ID>`` of the linked records (the
  smallest, should they disagree) or, without one, ``p:<smallest linked Patient id>``. Two records with
  the same personal ID at two facilities are one person even before the MPI links them;
- **covered**: the person has a valid check-up (:mod:`senhealth.checkup.campaigns.vocabulary`) in the
  year under any of their records, at any facility.

Encounters, Conditions and Observations are found by their partition key ``pkey``, the patient the
resource belongs to (the store keeps a patient's rows together: the query stays co-located when the
tables are distributed by patient).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from senhealth.checkup.campaigns.vocabulary import (
    ADMIN_UNIT_EXTENSION,
    CHECKUP,
    CHECKUP_REASON_CODES,
    CHRONIC_PREFIXES,
    ENCOUNTER_TYPE_SYSTEM,
    ICD10_SYSTEMS,
    POOR_BHYT_CATEGORIES,
    SOCIAL_STATUS_SYSTEM,
)
from senhealth.fhir.store import FhirStore
from senhealth.mpi.identifiers import BHYT_SYSTEM, CCCD_SYSTEM

__all__ = ["Station", "Target", "population_sql", "stations", "targets", "year_bounds"]

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

_PARAMS = (
    ("Patient", "organization"),
    ("Patient", "link"),
    ("Patient", "identifier"),
    ("Patient", "birthdate"),
    ("Patient", "active"),
    ("Patient", "deceased"),
    ("Encounter", "type"),
    ("Encounter", "reason-code"),
    ("Encounter", "status"),
    ("Encounter", "date"),
    ("Condition", "code"),
    ("Condition", "clinical-status"),
    ("Observation", "code"),
    ("Observation", "status"),
    ("Observation", "date"),
    ("Location", "organization"),
)


@dataclass(frozen=True, slots=True)
class Station:
    """A commune health station: where the commune's registered citizens are invited."""

    organization_id: str
    name: str
    commune_code: str  # 5 digits; "" when the Organization's address names none
    commune_name: str
    location_id: str | None
    remote: bool


@dataclass(frozen=True, slots=True)
class Target:
    """One person of a commune's target population (their registered record ``patient_id``)."""

    person: str
    patient_id: str
    commune_code: str
    organization_id: str
    groups: tuple[str, ...]  # in PRIORITY_ORDER
    covered: bool
    birth: datetime | None


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The campaign year as [1 January, next 1 January) in Viet Nam's time."""
    return datetime(year, 1, 1, tzinfo=ZONE), datetime(year + 1, 1, 1, tzinfo=ZONE)


async def _param_ids(store: FhirStore) -> dict[str, int]:
    ids = await store.param_ids()
    return {f"{t}.{c}": ids[(t, c)] for t, c in _PARAMS}


def _commune(org: dict[str, Any]) -> tuple[str, str]:
    for addr in org.get("address") or []:
        for ext in addr.get("extension") or []:
            if ext.get("url") != ADMIN_UNIT_EXTENSION:
                continue
            for sub in ext.get("extension") or []:
                coding = sub.get("valueCoding") or {}
                if sub.get("url") == "commune" and coding.get("code"):
                    return str(coding["code"]), str(coding.get("display") or addr.get("district") or "")
    return "", ""


_STATIONS = """
SELECT o.res_id, o.content,
       (SELECT min(l.res_id) FROM idx_reference x JOIN fhir_resource l ON l.pkey = x.pkey AND l.rid = x.rid
         WHERE x.param_id = %(loc)s AND x.target_type = 'Organization' AND x.target_id = o.res_id) AS location
FROM fhir_resource o
WHERE o.res_type = 'Organization' AND o.res_id IN (
    SELECT DISTINCT target_id FROM idx_reference WHERE param_id = %(org)s AND target_type = 'Organization')
ORDER BY o.res_id
"""


async def stations(
    store: FhirStore, *, remote_communes: Iterable[str] = (), conn: AsyncConnection[TupleRow] | None = None
) -> list[Station]:
    """Every Organization that citizens are registered at, with its commune; sorted by commune code."""
    ids = await _param_ids(store)
    remote = set(remote_communes)
    params = {"loc": ids["Location.organization"], "org": ids["Patient.organization"]}
    if conn is None:
        async with store.pool.connection() as own:
            rows = await (await own.execute(_STATIONS, params)).fetchall()
    else:
        rows = await (await conn.execute(_STATIONS, params)).fetchall()
    out = []
    for res_id, content, location in rows:
        code, commune_name = _commune(content)
        out.append(
            Station(
                organization_id=str(res_id),
                name=str(content.get("name") or f"Organization/{res_id}"),
                commune_code=code,
                commune_name=commune_name,
                location_id=str(location) if location else None,
                remote=code in remote or commune_name.startswith("Đặc khu"),
            )
        )
    return sorted(out, key=lambda s: (s.commune_code, s.organization_id))


_POPULATION = """
WITH RECURSIVE
st(org, commune, remote) AS (
    SELECT * FROM unnest(%(st_org)s::text[], %(st_commune)s::text[], %(st_remote)s::boolean[])),
edge(a, b) AS (
    SELECT DISTINCT x.pkey, x.target_id FROM idx_reference x
    WHERE x.param_id = %(p_link)s AND x.target_type = 'Patient' AND x.target_id <> x.pkey),
undirected(a, b) AS (SELECT a, b FROM edge UNION SELECT b, a FROM edge),
reach(a, b) AS (
    SELECT a, a FROM undirected
    UNION
    SELECT r.a, u.b FROM reach r JOIN undirected u ON u.a = r.b),
comp(pid, label) AS (SELECT a, min(b) FROM reach GROUP BY a),
cccd(pid, cccd) AS (
    SELECT pkey, min(code) FROM idx_token
    WHERE param_id = %(p_ident)s AND system = %(cccd_system)s AND code IS NOT NULL GROUP BY pkey),
comp_cccd(label, cccd) AS (
    SELECT c.label, min(k.cccd) FROM comp c JOIN cccd k ON k.pid = c.pid GROUP BY c.label),
person(pid, person) AS (
    SELECT p.res_id, coalesce('c:' || coalesce(cc.cccd, k.cccd), 'p:' || coalesce(c.label, p.res_id))
    FROM fhir_resource p
    LEFT JOIN comp c ON c.pid = p.res_id
    LEFT JOIN comp_cccd cc ON cc.label = c.label
    LEFT JOIN cccd k ON k.pid = p.res_id
    WHERE p.res_type = 'Patient'),
reg(pid, org, commune, remote) AS (
    SELECT x.pkey, st.org, st.commune, st.remote FROM idx_reference x JOIN st ON st.org = x.target_id
    WHERE x.param_id = %(p_org)s AND x.target_type = 'Organization'
      AND NOT EXISTS (SELECT 1 FROM idx_token d WHERE d.pkey = x.pkey AND d.rid = x.rid
                      AND d.param_id = %(p_deceased)s AND d.code = 'true')
      AND NOT EXISTS (SELECT 1 FROM idx_token a WHERE a.pkey = x.pkey AND a.rid = x.rid
                      AND a.param_id = %(p_active)s AND a.code = 'false')),
tgt AS (
    SELECT DISTINCT ON (pe.person) pe.person, r.pid, r.org, r.commune, r.remote
    FROM reg r JOIN person pe ON pe.pid = r.pid
    ORDER BY pe.person, r.commune, r.pid),
members(pid, person) AS (SELECT pe.pid, pe.person FROM person pe JOIN tgt ON tgt.person = pe.person),
birth(pid, low) AS (
    SELECT d.pkey, min(d.low) FROM idx_date d JOIN members m ON m.pid = d.pkey
    WHERE d.param_id = %(p_birth)s GROUP BY d.pkey),
chronic(pid) AS (
    SELECT DISTINCT c.pkey FROM idx_token c JOIN members m ON m.pid = c.pkey
    JOIN idx_token s ON s.pkey = c.pkey AND s.rid = c.rid AND s.param_id = %(p_cstatus)s
         AND s.code IN ('active', 'recurrence', 'relapse')
    WHERE c.param_id = %(p_ccode)s AND c.system = ANY(%(icd)s) AND left(c.code, 3) = ANY(%(chronic)s)),
social(pid, code) AS (
    SELECT DISTINCT o.pkey, o.code FROM idx_token o JOIN members m ON m.pid = o.pkey
    JOIN idx_date d ON d.pkey = o.pkey AND d.rid = o.rid AND d.param_id = %(p_odate)s
         AND (d.low IS NULL OR d.low < %(y_end)s) AND (d.high IS NULL OR d.high >= %(y_start)s)
    WHERE o.param_id = %(p_ocode)s AND o.system = %(social)s AND o.code IN ('disability', 'poor-household')
      AND NOT EXISTS (SELECT 1 FROM idx_token s WHERE s.pkey = o.pkey AND s.rid = o.rid
                      AND s.param_id = %(p_ostatus)s AND s.code IN ('entered-in-error', 'cancelled'))),
poor_card(pid) AS (
    SELECT DISTINCT i.pkey FROM idx_token i JOIN members m ON m.pid = i.pkey
    WHERE i.param_id = %(p_ident)s AND i.system = %(bhyt_system)s AND left(upper(i.code), 2) = ANY(%(poor_bhyt)s)),
checkup(pid) AS (
    SELECT DISTINCT t.pkey FROM idx_token t
    JOIN idx_token s ON s.pkey = t.pkey AND s.rid = t.rid AND s.param_id = %(p_estatus)s AND s.code = 'finished'
    JOIN idx_date d ON d.pkey = t.pkey AND d.rid = t.rid AND d.param_id = %(p_edate)s
         AND d.low >= %(y_start)s AND d.low < %(y_end)s
    WHERE (t.param_id = %(p_etype)s AND t.system = %(etype_system)s AND t.code = %(checkup)s)
       OR (t.param_id = %(p_reason)s AND t.system = ANY(%(icd)s) AND t.code = ANY(%(reasons)s))),
covered(person) AS (SELECT DISTINCT pe.person FROM checkup c JOIN person pe ON pe.pid = c.pid),
flags AS (
    SELECT m.person,
           bool_or(b.low < %(elder_before)s) AS elderly,
           min(b.low) AS birth,
           bool_or(so.code = 'disability') AS disabled,
           bool_or(so.code = 'poor-household' OR pc.pid IS NOT NULL) AS poor,
           bool_or(ch.pid IS NOT NULL) AS chronic
    FROM members m
    LEFT JOIN birth b ON b.pid = m.pid
    LEFT JOIN chronic ch ON ch.pid = m.pid
    LEFT JOIN social so ON so.pid = m.pid
    LEFT JOIN poor_card pc ON pc.pid = m.pid
    GROUP BY m.person),
pop AS (
    SELECT t.person, t.pid, t.org, t.commune, t.remote,
           coalesce(f.elderly, false) AS elderly, coalesce(f.disabled, false) AS disabled,
           coalesce(f.poor, false) AS poor, coalesce(f.chronic, false) AS chronic,
           f.birth, cv.person IS NOT NULL AS covered
    FROM tgt t LEFT JOIN flags f ON f.person = t.person LEFT JOIN covered cv ON cv.person = t.person)
"""


async def population_sql(
    store: FhirStore, year: int, chosen: Sequence[Station]
) -> tuple[str, dict[str, Any]]:
    """The ``WITH`` clause defining ``pop`` (one row per person of ``chosen`` stations) and its parameters."""
    ids = await _param_ids(store)
    start, end = year_bounds(year)
    params: dict[str, Any] = {
        "st_org": [s.organization_id for s in chosen],
        "st_commune": [s.commune_code for s in chosen],
        "st_remote": [s.remote for s in chosen],
        "p_link": ids["Patient.link"],
        "p_ident": ids["Patient.identifier"],
        "p_org": ids["Patient.organization"],
        "p_deceased": ids["Patient.deceased"],
        "p_active": ids["Patient.active"],
        "p_birth": ids["Patient.birthdate"],
        "p_cstatus": ids["Condition.clinical-status"],
        "p_ccode": ids["Condition.code"],
        "p_ocode": ids["Observation.code"],
        "p_ostatus": ids["Observation.status"],
        "p_odate": ids["Observation.date"],
        "p_estatus": ids["Encounter.status"],
        "p_edate": ids["Encounter.date"],
        "p_etype": ids["Encounter.type"],
        "p_reason": ids["Encounter.reason-code"],
        "cccd_system": CCCD_SYSTEM,
        "bhyt_system": BHYT_SYSTEM,
        "poor_bhyt": list(POOR_BHYT_CATEGORIES),
        "icd": list(ICD10_SYSTEMS),
        "chronic": list(CHRONIC_PREFIXES),
        "social": SOCIAL_STATUS_SYSTEM,
        "etype_system": ENCOUNTER_TYPE_SYSTEM,
        "checkup": CHECKUP,
        "reasons": list(CHECKUP_REASON_CODES),
        "y_start": start,
        "y_end": end,
        # 60 or more by 31 December: born before 1 January of (year - 59)
        "elder_before": datetime(year - 59, 1, 1, tzinfo=ZONE),
    }
    return _POPULATION, params


async def targets(store: FhirStore, year: int, chosen: Sequence[Station]) -> list[Target]:
    """Every person of the target population of ``chosen`` stations, with groups and coverage."""
    if not chosen:
        return []
    cte, params = await population_sql(store, year, chosen)
    query = cte + (
        "SELECT person, pid, commune, org, elderly, disabled, poor, chronic, remote, covered, birth "
        "FROM pop ORDER BY commune, person"
    )
    async with store.pool.connection() as conn:
        rows = await (await conn.execute(query, params)).fetchall()
    out = []
    for person, pid, commune, org, elderly, disabled, poor, chronic, remote, covered, birth in rows:
        flags = {"elderly": elderly, "disabled": disabled, "poor": poor, "chronic": chronic, "remote": remote}
        out.append(
            Target(
                person=str(person),
                patient_id=str(pid),
                commune_code=str(commune),
                organization_id=str(org),
                groups=tuple(g for g, on in flags.items() if on),
                covered=bool(covered),
                birth=birth,
            )
        )
    return out
