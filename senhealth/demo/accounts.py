"""Sign-in accounts for the synthetic province, so that the demo's web pages can be tried at once.

One account per kind of user the platform serves, tied to the synthetic data just loaded: a doctor at
the facility with the most encounters, a commune health worker at the commune station with the most
registered citizens, a citizen of that facility for the portal, a facility administrator (two-factor
enrolment at first sign-in, as the rules require for administrators), a public-health officer and a
data analyst. All share one published password, so they exist only outside production: the demo
refuses to create them when ``SENHEALTH_ENVIRONMENT`` is ``production``.

Roles and their rights: docs/access.md; the accounts: docs/accounts.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import psycopg

from senhealth.core.config import get_settings
from senhealth.security import accounts

__all__ = ["DEMO_PASSWORD", "DemoAccount", "ensure_demo_accounts"]

#: The password of every demo account (development only; synthetic data only).
DEMO_PASSWORD: Final = "sen-health-demo"

_BUSIEST_PROVIDER = """
SELECT x.target_id, count(*) FROM idx_reference x JOIN fhir_search_param p ON p.param_id = x.param_id
WHERE p.res_type = 'Encounter' AND p.code = 'service-provider' AND x.target_type = 'Organization'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
"""
_BUSIEST_STATION = """
SELECT x.target_id, count(*) FROM idx_reference x JOIN fhir_search_param p ON p.param_id = x.param_id
WHERE p.res_type = 'Patient' AND p.code = 'organization' AND x.target_type = 'Organization'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
"""
_PRACTITIONER_AT = """
SELECT x.target_id FROM idx_reference x
JOIN fhir_search_param p ON p.param_id = x.param_id AND p.res_type = 'PractitionerRole' AND p.code = 'practitioner'
JOIN idx_reference o ON o.pkey = x.pkey AND o.rid = x.rid
JOIN fhir_search_param q ON q.param_id = o.param_id AND q.res_type = 'PractitionerRole' AND q.code = 'organization'
WHERE o.target_id = %s AND x.target_type = 'Practitioner'
ORDER BY 1 LIMIT 1
"""
_PATIENT_AT = """
SELECT x.pkey FROM idx_reference x JOIN fhir_search_param p ON p.param_id = x.param_id
WHERE p.res_type = 'Encounter' AND p.code = 'service-provider' AND x.target_id = %s
GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1
"""
_NAME_OF = "SELECT content ->> 'name' FROM fhir_resource WHERE res_type = %s AND res_id = %s"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: str
    where: str  # what the account is tied to, for the console


def _name(conn: psycopg.Connection[tuple[object, ...]], res_type: str, res_id: str) -> str:
    row = conn.execute(_NAME_OF, (res_type, res_id)).fetchone()
    if row is None:
        return f"{res_type}/{res_id}"
    return str(row[0] or f"{res_type}/{res_id}")


def _patient_name(conn: psycopg.Connection[tuple[object, ...]], patient_id: str) -> str:
    row = conn.execute(
        "SELECT content -> 'name' -> 0 FROM fhir_resource WHERE res_type = 'Patient' AND res_id = %s",
        (patient_id,),
    ).fetchone()
    name = row[0] if row is not None and isinstance(row[0], dict) else {}
    text = name.get("text") or " ".join([str(name.get("family", "")), *map(str, name.get("given", []))])
    return str(text).strip() or f"Patient/{patient_id}"


async def ensure_demo_accounts(url: str) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet (see the module docstring); list them all.

    The accounts are written through the database pool (``senhealth.core.db``), opened on ``url``
    by the caller."""
    if get_settings().environment == "production":
        raise RuntimeError("Demo accounts share a published password: they are never created in production")
    with psycopg.connect(url) as conn:
        provider = conn.execute(_BUSIEST_PROVIDER).fetchone()
        station = conn.execute(_BUSIEST_STATION).fetchone()
        if provider is None or station is None:
            return []
        hospital, commune = str(provider[0]), str(station[0])
        patient_row = conn.execute(_PATIENT_AT, (hospital,)).fetchone()
        patient = str(patient_row[0]) if patient_row is not None else None
        hospital_name, commune_name = (
            _name(conn, "Organization", hospital),
            _name(conn, "Organization", commune),
        )
        patient_name = _patient_name(conn, patient) if patient else ""
        # the doctor is one of the hospital's practitioners, so that documents they write name them as
        # author and they can sign them (docs/signatures.md)
        prac_row = conn.execute(_PRACTITIONER_AT, (hospital,)).fetchone()
        doctor_links = {"facility": f"Organization/{hospital}"}
        if prac_row is not None:
            doctor_links["practitioner"] = f"Practitioner/{prac_row[0]}"
    wanted: list[tuple[str, str, dict[str, str], str, str]] = [
        ("bs.demo", "doctor", doctor_links, "BS. Demo", hospital_name),
        (
            "yt.demo",
            "commune_health_worker",
            {"facility": f"Organization/{commune}"},
            "YT. Demo",
            commune_name,
        ),
        (
            "quantri.demo",
            "facility_admin",
            {"facility": f"Organization/{hospital}"},
            "Quản trị Demo",
            hospital_name,
        ),
        ("cdc.demo", "cdc_officer", {}, "CDC Demo", "notifiable diseases / bệnh truyền nhiễm"),
        ("phantich.demo", "data_analyst", {}, "Phân tích Demo", "research data / dữ liệu nghiên cứu"),
    ]
    if patient:
        wanted.append(
            ("benhnhan.demo", "patient", {"patient": f"Patient/{patient}"}, patient_name, patient_name)
        )
    out = []
    for username, role, links, display, where in wanted:
        if await accounts.get_user(username) is None:
            await accounts.create_user(username, DEMO_PASSWORD, [role], display_name=display, **links)
        out.append(DemoAccount(username, role, where))
    return out
