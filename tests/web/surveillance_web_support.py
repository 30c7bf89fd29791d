"""Helpers of the CDC pages' tests (tests/web/test_web_surveillance*.py): routes installed until the lead
wires ``surveillance_web.ROUTES`` in ``senhealth/web/app.py``, and a small synthetic surveillance province.

``seed_surveillance(client, settings)`` writes, in Bắc Ninh (province 24), through the FHIR API and the
surveillance functions:

- two CDC officers linked to Practitioners (``cdc.lan``, ``cdc.minh``), a provincial health officer
  (``so.tinh``, TOTP) and a doctor (``bs.khac``);
- dengue cases detected from Conditions (``detect_for_patient``): 3 in Phường Bắc Giang (07210) and 1 in
  Phường Đa Mai (07228) in week 2026-W07, 1 in 07210 in W05; a measles case in 07228 in W07;
- five years of synthetic weekly dengue history (2021–2025) in 07210 and 07228, written into the weekly
  table as the series would hold it (counts only: no cases behind them);
- populations: 07210 25,000 and 07228 18,000 (2025);
- two open signals (``open_signals``): dengue in 07210, 2026-W07, ears-c2 (observed 3, threshold 2.2) and
  measles in 07228, 2026-W07, farrington-flexible; a community signal (Communication) in 07210.

Synthetic data only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI
from web_dataset import JSON, PASSWORD, system_token

from senhealth.core.config import Settings
from senhealth.security import accounts

PROVINCE: Final = "24"
EAST: Final = ("07210", "Phường Bắc Giang")
WEST: Final = ("07228", "Phường Đa Mai")
LAN: Final = "cdc.lan"
MINH: Final = "cdc.minh"
OFFICER: Final = "so.tinh"
DOCTOR: Final = "bs.khac"
ADMIN_UNIT: Final = "https://senhealth.vn/fhir/StructureDefinition/administrative-unit"
ICD10_VN: Final = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
VN: Final = dt.timezone(dt.timedelta(hours=7))
WEEK: Final = "2026-W07"
__all__ = ["PASSWORD"]


@dataclass
class Seeded:
    totp: dict[str, str] = field(default_factory=dict)
    dengue_alert: str = ""
    measles_alert: str = ""
    patients: list[str] = field(default_factory=list)


def install_surveillance(app: FastAPI) -> None:
    """Route the CDC pages in the pages' application (idempotent)."""
    from senhealth.web.views import surveillance_web

    routes = app.state.senhealth_web.router.routes
    if not any(getattr(r, "path", None) == surveillance_web.ROUTES[0].path for r in routes):
        routes[0:0] = list(surveillance_web.ROUTES)


def build_surveillance_app() -> FastAPI:
    """``uvicorn --factory surveillance_web_support:build_surveillance_app``."""
    from senhealth.app import build_app
    from senhealth.core.config import get_settings

    app = build_app(get_settings())
    install_surveillance(app)
    return app


def _patient(pid: str, commune: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "active": True,
        "name": [{"text": name}],
        "gender": "female",
        "birthDate": "1995-04-02",
        "address": [
            {
                "use": "home",
                "extension": [
                    {
                        "url": ADMIN_UNIT,
                        "extension": [
                            {"url": "province", "valueCoding": {"code": PROVINCE}},
                            {"url": "commune", "valueCoding": {"code": commune}},
                        ],
                    }
                ],
            }
        ],
    }


def _condition(pid: str, code: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"{pid}-cond",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
            ]
        },
        "code": {"coding": [{"system": ICD10_VN, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "onsetDateTime": f"{day}T08:00:00+07:00",
        "recordedDate": f"{day}T10:00:00+07:00",
    }


def history_count(commune: str, iso_week: int) -> int:
    """The synthetic weekly dengue count of 2021–2025 (a small seasonal wave in Bắc Giang, flat in Đa Mai)."""
    return 1 + iso_week % 3 if commune == EAST[0] else iso_week % 2


CASES: Final = [  # (patient id, commune, ICD-10, onset day, name)
    ("sxh-1", EAST[0], "A90", "2026-02-10", "Nguyễn Thị Hoa"),
    ("sxh-2", EAST[0], "A91", "2026-02-11", "Trần Văn Khoa"),
    ("sxh-3", EAST[0], "A90", "2026-02-12", "Lê Thị Lụa"),
    ("sxh-4", WEST[0], "A90", "2026-02-12", "Phạm Văn Mạnh"),
    ("sxh-5", EAST[0], "A90", "2026-01-27", "Hoàng Thị Nga"),
    ("soi-1", WEST[0], "B05", "2026-02-13", "Vũ Văn Phong"),
]


async def seed_surveillance(client: httpx.AsyncClient, settings: Settings) -> Seeded:
    from senhealth.core.db import get_pool, transaction
    from senhealth.fhir.store import FhirStore
    from senhealth.surveillance.alerts import DetectorResult, open_signals
    from senhealth.surveillance.cases import detect_for_patient, report_signal
    from senhealth.surveillance.series import PopulationRow, set_population

    headers = {"Authorization": f"Bearer {system_token(settings)}", **JSON}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Practitioner", "id": "cdc-lan", "name": [{"text": "Trần Thị Lan"}]},
        {"resourceType": "Practitioner", "id": "cdc-minh", "name": [{"text": "Lê Văn Minh"}]},
    ]
    for pid, commune, code, day, name in CASES:
        resources += [_patient(pid, commune, name), _condition(pid, code, day)]
    for resource in resources:
        r = await client.put(
            f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=headers
        )
        assert r.status_code in (200, 201), r.text[:300]
    store = FhirStore(get_pool())
    seeded = Seeded(patients=[c[0] for c in CASES])
    for pid, *_ in CASES:
        await detect_for_patient(store, pid, now=dt.datetime(2026, 2, 14, 9, 0, tzinfo=VN))
    async with transaction() as conn:
        rows = []
        for year in range(2021, 2026):
            for week in range(1, dt.date(year, 12, 28).isocalendar().week + 1):
                monday = dt.date.fromisocalendar(year, week, 1)
                for commune in (EAST[0], WEST[0]):
                    n = history_count(commune, week)
                    if n:
                        rows.append(("dengue", PROVINCE, commune, monday, year, week, n))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO surveillance_count_week (disease, province, commune, week_start, iso_year, iso_week,"
                " cases, confirmed, deaths) VALUES (%s, %s, %s, %s, %s, %s, %s, 0, 0)",
                rows,
            )
        await set_population(
            conn,
            [
                PopulationRow(EAST[0], "commune", PROVINCE, 2025, 25_000, EAST[1]),
                PopulationRow(WEST[0], "commune", PROVINCE, 2025, 18_000, WEST[1]),
            ],
        )
    opened = await open_signals(
        store,
        [
            DetectorResult(
                "A90", EAST[0], WEEK, "ears-c2", 3, 1.4, 2.2, True, "Sốt xuất huyết Dengue", EAST[1]
            ),
            DetectorResult("B05", WEST[0], WEEK, "farrington-flexible", 1, 0.05, 0.9, True, "Sởi", WEST[1]),
        ],
    )
    seeded.dengue_alert, seeded.measles_alert = opened[0].alert.id, opened[1].alert.id
    await report_signal(
        store, "Nhiều người sốt cao trong cùng một xóm", "cluster", province=PROVINCE, commune=EAST[0],
        disease="dengue", sent=dt.datetime(2026, 2, 12, 15, 0, tzinfo=VN),
    )  # fmt: skip
    for username, role, practitioner in (
        (LAN, "cdc_officer", "Practitioner/cdc-lan"),
        (MINH, "cdc_officer", "Practitioner/cdc-minh"),
        (OFFICER, "provincial_officer", None),
        (DOCTOR, "doctor", None),
    ):
        name = {LAN: "Trần Thị Lan", MINH: "Lê Văn Minh"}.get(username, username)
        await accounts.create_user(username, PASSWORD, [role], display_name=name, practitioner=practitioner)
        if role == "provincial_officer":
            uri = await accounts.enroll_totp(username)
            seeded.totp[username] = parse_qs(urlparse(uri).query)["secret"][0]
    return seeded
