"""Synthetic data and an HTTP client for the referral and remote-visit tests.

``run_api(settings, scenario)`` builds the API (``senhealth.api.create_app``) with the platform's role
policy and its PostgreSQL audit log, the referral, remote-visit, document, exchange and signature
operations, and a bearer-token table (``tokens``: name → Principal) filled by ``accounts``; the scenario
gets an ``httpx`` client on the app (ASGI, real requests through the FastAPI stack) and the store.

``seed(store)`` writes, with fixed ids: a commune health station (``tyt-hoa-binh``, facility code 70123)
``partOf`` the provincial hospital (``bv-tinh``, 70001); Dr Phạm Văn An at the station, Dr Trần Thị Bình
and Dr Lý Văn Tâm at the hospital (practising licences), Mrs Nguyễn Thị Hoa (personal ID, insurance card)
and Mr Lê Văn Nam; an open visit of Mrs Hoa at the station with a cerebral infarction (I63.9) and
hypertension (I10); Dr Bình's telehealth Schedule (through ``PractitionerRole/pr-binh``) with free Slots
tomorrow, and a Slot of an ordinary (not remote) Schedule. Synthetic data only.

The test PKI of the EMR tests (``tests/emr/emr_pki_support.py``) gives the signers their keys.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

_EMR_TESTS = str(Path(__file__).resolve().parents[1] / "emr")
if _EMR_TESTS not in sys.path:
    sys.path.insert(0, _EMR_TESTS)

from emr_pki_support import TestPki, make_test_pki  # noqa: E402

from senhealth.api import create_app  # noqa: E402
from senhealth.core.config import Settings  # noqa: E402
from senhealth.emr.documents.operations import register_document_operations, unregister_document_operations  # noqa: E402
from senhealth.emr.exchange.operations import register_exchange_operations, unregister_exchange_operations  # noqa: E402
from senhealth.emr.signatures import (  # noqa: E402
    register_signature_operations,
    remove_immutability_guard,
    unregister_signature_operations,
)
from senhealth.fhir import access  # noqa: E402
from senhealth.fhir.access import Principal  # noqa: E402
from senhealth.fhir.store import FhirStore  # noqa: E402
from senhealth.security.accounts import create_user  # noqa: E402
from senhealth.security.audit import PostgresAuditSink  # noqa: E402
from senhealth.security.policy import RolePolicy  # noqa: E402
from senhealth.telehealth.referrals import register_referral_operations, unregister_referral_operations  # noqa: E402
from senhealth.telehealth.visits import register_visit_operations, unregister_visit_operations  # noqa: E402

__all__ = [
    "FHIR",
    "HOSPITAL_CODE",
    "STATION_CODE",
    "TestPki",
    "make_test_pki",
    "outcome",
    "param",
    "params",
    "run_api",
    "seed",
]

FHIR: Final = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
PASSWORD: Final = "mat-khau-thu-nghiem-42"  # synthetic
STATION_CODE: Final = "70123"
HOSPITAL_CODE: Final = "70001"
FACILITY: Final = "https://senhealth.vn/fhir/sid/facility"
LICENCE: Final = "https://senhealth.vn/fhir/sid/practising-licence"
CCCD: Final = "https://senhealth.vn/fhir/sid/cccd"
ICD10_VN: Final = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"
REMOTE: Final = {
    "coding": [{"system": "https://senhealth.vn/fhir/CodeSystem/telehealth-service", "code": "remote-visit"}]
}


def _at(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def slot_times(n: int) -> tuple[str, str]:
    """Start and end of the n-th 30-minute Slot, tomorrow from 08:00 UTC."""
    day = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    start = day + timedelta(minutes=30 * n)
    return _at(start), _at(start + timedelta(minutes=30))


def _practitioner(pid: str, family: str, given: list[str], licence: str) -> dict[str, Any]:
    text = f"BS. {family} {' '.join(given)}"
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [{"system": LICENCE, "value": licence}],
        "name": [{"family": family, "given": given, "text": text}],
    }


def resources() -> list[dict[str, Any]]:
    pat = {"reference": "Patient/p-hoa"}
    out: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "bv-tinh", "name": "Bệnh viện Đa khoa tỉnh Sen Hồng",
         "identifier": [{"system": FACILITY, "value": HOSPITAL_CODE}]},
        {"resourceType": "Organization", "id": "tyt-hoa-binh", "name": "Trạm Y tế xã Hòa Bình",
         "identifier": [{"system": FACILITY, "value": STATION_CODE}], "partOf": {"reference": "Organization/bv-tinh"}},
        _practitioner("bs-an", "Phạm", ["Văn", "An"], "000123/HB-CCHN"),
        _practitioner("bs-binh", "Trần", ["Thị", "Bình"], "004567/BYT-CCHN"),
        _practitioner("bs-tam", "Lý", ["Văn", "Tâm"], "004568/BYT-CCHN"),
        {"resourceType": "PractitionerRole", "id": "pr-binh", "active": True,
         "practitioner": {"reference": "Practitioner/bs-binh"}, "organization": {"reference": "Organization/bv-tinh"}},
        {
            "resourceType": "Patient",
            "id": "p-hoa",
            "identifier": [{"system": CCCD, "value": "036185001234"},
                           {"system": "https://senhealth.vn/fhir/sid/bhyt", "value": "HT3363620123456",
                            "period": {"start": "2026-01-01", "end": "2026-12-31"}}],
            "name": [{"family": "Nguyễn", "given": ["Thị", "Hoa"], "text": "Nguyễn Thị Hoa", "use": "official"}],
            "gender": "female",
            "birthDate": "1958-04-12",
            "telecom": [{"system": "phone", "value": "0912000111"}],
            "address": [{"text": "Thôn 3, xã Hòa Bình, tỉnh Sen Hồng"}],
            "managingOrganization": {"reference": "Organization/tyt-hoa-binh"},
        },
        {"resourceType": "Patient", "id": "p-nam", "name": [{"family": "Lê", "given": ["Văn", "Nam"], "text": "Lê Văn Nam"}],
         "gender": "male", "birthDate": "1970-01-20"},
        {
            "resourceType": "Encounter",
            "id": "enc-tyt-1",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": pat,
            "period": {"start": _at(datetime.now(UTC) - timedelta(hours=2))},
            "reasonCode": [{"text": "Yếu nửa người phải, nói khó"}],
            "serviceProvider": {"reference": "Organization/tyt-hoa-binh"},
            "participant": [{"individual": {"reference": "Practitioner/bs-an"}}],
            "diagnosis": [{"condition": {"reference": "Condition/c-i63"}, "rank": 1},
                          {"condition": {"reference": "Condition/c-i10"}, "rank": 2}],
        },
        {"resourceType": "Condition", "id": "c-i63", "subject": pat, "encounter": {"reference": "Encounter/enc-tyt-1"},
         "code": {"coding": [{"system": ICD10_VN, "code": "I63.9", "display": "Nhồi máu não, không đặc hiệu"}]}},
        {"resourceType": "Condition", "id": "c-i10", "subject": pat, "encounter": {"reference": "Encounter/enc-tyt-1"},
         "code": {"coding": [{"system": ICD10_VN, "code": "I10", "display": "Tăng huyết áp vô căn (nguyên phát)"}]}},
        {"resourceType": "Schedule", "id": "sch-binh-tele", "active": True, "serviceType": [REMOTE],
         "actor": [{"reference": "PractitionerRole/pr-binh"}, {"reference": "Practitioner/bs-binh"}]},
        {"resourceType": "Schedule", "id": "sch-binh-clinic", "active": True,
         "actor": [{"reference": "Practitioner/bs-binh"}]},
    ]  # fmt: skip
    for n in range(4):
        start, end = slot_times(n)
        out.append({"resourceType": "Slot", "id": f"slot-{n}", "schedule": {"reference": "Schedule/sch-binh-tele"},
                    "status": "free", "start": start, "end": end})  # fmt: skip
    start, end = slot_times(6)
    out.append({"resourceType": "Slot", "id": "slot-clinic", "schedule": {"reference": "Schedule/sch-binh-clinic"},
                "status": "free", "start": start, "end": end})  # fmt: skip
    return out


async def seed(store: FhirStore) -> None:
    for resource in resources():
        await store.update(resource)


async def accounts(tokens: dict[str, Principal]) -> None:
    """Real accounts (a signer's key is looked up by the account's username) and their bearer tokens."""
    staff = [
        ("an", "bs.an", "Organization/tyt-hoa-binh", "bs-an"),
        ("binh", "bs.binh", "Organization/bv-tinh", "bs-binh"),
        ("tam", "bs.tam", "Organization/bv-tinh", "bs-tam"),
    ]
    for token, username, facility, practitioner in staff:
        user = await create_user(username, PASSWORD, ["doctor"], display_name=username, facility=facility,
                                 practitioner=f"Practitioner/{practitioner}")  # fmt: skip
        tokens[token] = Principal("user", user.id, frozenset({"doctor"}), facility=facility,
                                  practitioner=practitioner)  # fmt: skip
    for token, username, patient in (("hoa", "nt.hoa", "p-hoa"), ("nam", "lv.nam", "p-nam")):
        user = await create_user(
            username, PASSWORD, ["patient"], display_name=username, patient=f"Patient/{patient}"
        )
        tokens[token] = Principal("patient", user.id, frozenset({"patient"}), patient=patient)


def _reset() -> None:
    unregister_referral_operations()
    unregister_visit_operations()
    unregister_document_operations()
    unregister_exchange_operations()
    unregister_signature_operations()
    remove_immutability_guard()
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)


Scenario = Callable[[httpx.AsyncClient, FhirStore], Awaitable[None]]


def run_api(settings: Settings, scenario: Scenario, tokens: dict[str, Principal]) -> None:
    """Run ``scenario(client, store)`` against the API on ``settings`` (see the module docstring)."""

    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        value = headers.get("authorization", "")
        return tokens.get(value.removeprefix("Bearer ")) if value else None

    async def main() -> None:
        _reset()
        try:
            access.install(policy=RolePolicy(), sink=PostgresAuditSink())
            register_signature_operations(settings)
            register_document_operations()
            register_exchange_operations()
            register_referral_operations()
            register_visit_operations()
            app = create_app(settings, authenticate=authenticate)
            async with app.router.lifespan_context(app):
                store = FhirStore()
                await seed(store)
                await accounts(tokens)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    await scenario(client, store)
        finally:
            _reset()

    asyncio.run(main())


def params(**values: Any) -> dict[str, Any]:
    """A Parameters body: strings as valueString, ``Type/id`` as valueReference, lists repeat."""
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                out.append({"name": name, **item})
            elif (
                isinstance(item, str) and "/" in item and item.split("/")[0][:1].isupper() and " " not in item
            ):
                out.append({"name": name, "valueReference": {"reference": item}})
            else:
                out.append({"name": name, "valueString": str(item)})
    return {"resourceType": "Parameters", "parameter": out}


def param(body: dict[str, Any], name: str) -> Any:
    """The first value (resource, value[x] or parts) of parameter ``name``."""
    for p in body.get("parameter", []):
        if p["name"] == name:
            return (
                p.get("resource") or p.get("part") or next(v for k, v in p.items() if k.startswith("value"))
            )
    raise KeyError(name)


def outcome(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:1500])
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    return " | ".join(str(i.get("diagnostics", "")) for i in body["issue"])


def b64(text: str) -> bytes:
    return base64.b64decode(text)
