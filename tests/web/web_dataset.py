"""A small synthetic dataset for the web tests: two facilities, a doctor at each, a facility
administrator, a nurse, a citizen with a portal account, and a few patients with Vietnamese names and a
record (encounters, problems, measurements, medications, an allergy, an immunisation, a report).
Synthetic only: every name, number and value is made up.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from senhealth.core.config import Settings
from senhealth.core.db import transaction
from senhealth.security import accounts
from senhealth.security.directory import user_info
from senhealth.security.oauth.config import OAuthConfig
from senhealth.security.oauth.tokens import TokenService

JSON = {"Content-Type": "application/fhir+json"}
CCCD = "https://senhealth.vn/fhir/sid/cccd"
BHYT = "https://senhealth.vn/fhir/sid/bhyt"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PASSWORD = "mat-khau-rat-dai-1"  # synthetic test password (10+ characters)
DISCHARGE_TEXT = "GIẤY RA VIỆN\nChẩn đoán: Tăng huyết áp vô căn (I10).\nDặn dò: tái khám sau 1 tháng.\n"
# a minimal one-page PDF (synthetic), enough for a download's bytes to be compared
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass
class Seeded:
    patients: dict[str, str] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)  # username -> TOTP secret
    accounts: dict[str, str] = field(default_factory=dict)  # username -> account id
    pair_id: int = 0


def system_token(settings: Settings) -> str:
    tokens = TokenService.from_config(OAuthConfig.from_settings(settings))
    return tokens.mint(tokens.access_claims(client_id="web-test-seed", scope="system/*.cruds", user=None))


async def user_token(settings: Settings, username: str) -> str:
    """An access token for a seeded account (its own role and facility)."""
    user = await accounts.get_user(username)
    assert user is not None, username
    tokens = TokenService.from_config(OAuthConfig.from_settings(settings))
    return tokens.mint(tokens.access_claims(client_id="web-test", scope="user/*.cruds", user=user_info(user)))


def _when(days_ago: int) -> str:
    return (dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC) - dt.timedelta(days=days_ago)).isoformat()


def _patient(
    pid: str, family: str, given: list[str], birth: str, gender: str, org: str, cccd: str, bhyt: str
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": CCCD, "value": cccd}, {"system": BHYT, "value": bhyt}],
        "name": [{"use": "official", "family": family, "given": given, "text": " ".join([family, *given])}],
        "gender": gender,
        "birthDate": birth,
        "telecom": [{"system": "phone", "value": "0912" + cccd[-6:]}],
        "address": [{"text": "Thôn Đông, xã Hòa Bình, tỉnh Bắc Ninh", "city": "Bắc Ninh"}],
        "managingOrganization": {"reference": f"Organization/{org}"},
    }


def _obs(
    oid: str, pid: str, code: str, display: str, value: float, unit: str, days: int, cat: str = "vital-signs"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": cat}
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _when(days),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _bp(oid: str, pid: str, sys_: float, dia: float, days: int) -> dict[str, Any]:
    def comp(code: str, display: str, value: float) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Huyết áp"}], "text": "Huyết áp"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": _when(days),
        "component": [comp("8480-6", "Tâm thu", sys_), comp("8462-4", "Tâm trương", dia)],
    }


def clinical(pid: str, org: str) -> list[dict[str, Any]]:
    subject = {"reference": f"Patient/{pid}"}
    out: list[dict[str, Any]] = []
    for i, (days, reason) in enumerate(
        [(200, "Khám định kỳ"), (90, "Tái khám tăng huyết áp"), (10, "Đau đầu, chóng mặt")]
    ):
        out.append(
            {
                "resourceType": "Encounter",
                "id": f"{pid}-enc{i}",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "Ngoại trú",
                },
                "type": [{"text": "Khám ngoại trú"}],
                "subject": subject,
                "serviceProvider": {"reference": f"Organization/{org}"},
                "period": {"start": _when(days), "end": _when(days)},
                "reasonCode": [{"text": reason}],
            }
        )
    for cid, code, text in [("htn", "I10", "Tăng huyết áp vô căn"), ("dm", "E11", "Đái tháo đường type 2")]:
        out.append(
            {
                "resourceType": "Condition",
                "id": f"{pid}-{cid}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}],
                    "text": text,
                },
                "subject": subject,
                "onsetDateTime": _when(400),
            }
        )
    for i, (s, d, days) in enumerate([(152, 95, 200), (145, 90, 90), (138, 86, 40), (130, 82, 10)]):
        out.append(_bp(f"{pid}-bp{i}", pid, s, d, days))
    for i, (w, days) in enumerate([(72.5, 200), (70.8, 90), (69.9, 10)]):
        out.append(_obs(f"{pid}-wt{i}", pid, "29463-7", "Cân nặng", w, "kg", days))
    for i, (g, days) in enumerate([(9.1, 200), (7.8, 90), (7.0, 10)]):
        out.append(_obs(f"{pid}-glu{i}", pid, "2339-0", "Glucose máu", g, "mmol/L", days, "laboratory"))
    out.append(
        {
            "resourceType": "MedicationRequest",
            "id": f"{pid}-med1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "Amlodipin 5 mg"},
            "subject": subject,
            "authoredOn": _when(90),
            "dosageInstruction": [{"text": "Uống 1 viên mỗi sáng"}],
        }
    )
    out.append(
        {
            "resourceType": "AllergyIntolerance",
            "id": f"{pid}-alg1",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "patient": subject,
            "code": {"text": "Penicillin"},
            "criticality": "high",
            "reaction": [{"manifestation": [{"text": "Phát ban"}]}],
        }
    )
    out.append(
        {
            "resourceType": "Immunization",
            "id": f"{pid}-imm1",
            "status": "completed",
            "vaccineCode": {"text": "Vắc xin cúm mùa"},
            "patient": subject,
            "occurrenceDateTime": _when(300),
            "lotNumber": "LOT-2025-01",
        }
    )
    out.append(
        {
            "resourceType": "DiagnosticReport",
            "id": f"{pid}-rep1",
            "status": "final",
            "code": {"text": "Xét nghiệm sinh hóa máu"},
            "subject": subject,
            "effectiveDateTime": _when(10),
            "conclusion": "Glucose máu giảm so với lần trước",
            "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Glucose máu lúc đói: 7,0 mmol/L.</p>'
                "<p>HbA1c: 6,8 %.</p></div>",
            },
        }
    )
    out.append(
        {
            "resourceType": "DocumentReference",
            "id": f"{pid}-doc1",
            "status": "current",
            "type": {"text": "Giấy ra viện"},
            "subject": subject,
            "date": _when(9),
            "description": "Giấy ra viện đợt điều trị tăng huyết áp",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "language": "vi",
                        "title": "Giấy ra viện",
                        "data": base64.b64encode(DISCHARGE_TEXT.encode()).decode(),
                    }
                },
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "title": "Giấy ra viện (bản in)",
                        "data": base64.b64encode(TINY_PDF).decode(),
                    }
                },
                {
                    "attachment": {
                        "contentType": "image/jpeg",
                        "title": "Ảnh chụp",
                        "url": "https://example.org/a.jpg",
                    }
                },
            ],
        }
    )
    return out


async def seed(client: httpx.AsyncClient, settings: Settings, *, with_clinical: bool = True) -> Seeded:
    """Write the dataset through the FHIR API (system token) and create the accounts."""
    headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
    seeded = Seeded()
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "bv-tinh", "name": "Bệnh viện Đa khoa tỉnh"},
        {"resourceType": "Organization", "id": "tyt-hoabinh", "name": "Trạm Y tế xã Hòa Bình"},
        {
            "resourceType": "Practitioner",
            "id": "bs-binh",
            "name": [{"family": "Trần", "given": ["Thị", "Bình"], "text": "BS. Trần Thị Bình"}],
        },
        _patient(
            "p-an",
            "Nguyễn",
            ["Văn", "An"],
            "1980-03-15",
            "male",
            "bv-tinh",
            "001080012345",
            "DN4010012345678",
        ),
        _patient(
            "p-an2",
            "Nguyễn",
            ["Văn", "Ân"],
            "1980-03-15",
            "male",
            "bv-tinh",
            "001080012346",
            "DN4010012345679",
        ),
        _patient(
            "p-hoa",
            "Lê",
            ["Thị", "Hoa"],
            "1975-07-02",
            "female",
            "tyt-hoabinh",
            "027175000111",
            "GD4270000011122",
        ),
    ]
    if with_clinical:
        resources += clinical("p-an", "bv-tinh")
    for resource in resources:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), (resource["resourceType"], r.text)
    seeded.patients = {"an": "p-an", "an2": "p-an2", "hoa": "p-hoa"}
    users = [
        (
            "bs.binh",
            ["doctor"],
            "Organization/bv-tinh",
            "Practitioner/bs-binh",
            None,
            "BS. Trần Thị Bình",
            True,
        ),
        ("bs.hoa", ["doctor"], "Organization/tyt-hoabinh", None, None, "BS. Phạm Hòa", True),
        (
            "qt.bvtinh",
            ["facility_admin", "doctor"],
            "Organization/bv-tinh",
            None,
            None,
            "Quản trị Lý Văn Tâm",
            False,
        ),
        ("dd.lan", ["nurse"], "Organization/bv-tinh", None, None, "ĐD. Vũ Thị Lan", False),
        ("nv.an", ["patient"], None, None, "Patient/p-an", "Nguyễn Văn An", False),
    ]
    for username, roles, facility, practitioner, patient, display, totp in users:
        user = await accounts.create_user(
            username,
            PASSWORD,
            roles,
            display_name=display,
            facility=facility,
            practitioner=practitioner,
            patient=patient,
        )
        seeded.accounts[username] = user.id
        if totp:
            uri = await accounts.enroll_totp(username)
            seeded.totp[username] = parse_qs(urlparse(uri).query)["secret"][0]
    async with transaction() as conn:
        cur = await conn.execute(
            """INSERT INTO mpi_review (patient_a, patient_b, score, reasons)
               VALUES ('p-an', 'p-an2', 0.62, '["same birth date", "similar name"]'::jsonb) RETURNING id"""
        )
        row = await cur.fetchone()
        assert row is not None
        seeded.pair_id = int(row[0])
    return seeded
