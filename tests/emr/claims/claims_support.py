"""A small certificate authority for the claim tests: a root, an intermediate and facility certificates.

Real X.509 certificates made with ``cryptography`` (https://cryptography.io/en/latest/x509/tutorial/):
RSA-2048 keys, SHA-256, the CA extensions a path validator expects (basic constraints, key usage,
subject and authority key identifiers). A facility's signing key is a ``LocalSigningKey`` of the PKI
module, the same object the key store hands out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from senhealth.core.db import close_pool, get_pool, open_pool, transaction
from senhealth.emr.pki.keys import LocalSigningKey
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore


@cache
def _key(n: int) -> rsa.RSAPrivateKey:  # key generation is slow: a few keys, reused
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sen Health test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    start: datetime,
    days: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class ClaimsPki:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey
    issued: list[x509.Certificate] = field(default_factory=list)

    @property
    def trust_roots(self) -> list[x509.Certificate]:
        return [self.root]

    def facility(
        self, code: str = "01001", *, start: datetime | None = None, days: int = 365, key_no: int = 3
    ) -> LocalSigningKey:
        """A facility's signing key: certificate issued by the intermediate, chain up to the root."""
        key = _key(key_no)
        begin = start or datetime.now(UTC) - timedelta(days=1)
        cert = _cert(
            f"Cơ sở KBCB {code}",
            key,
            self.intermediate,
            self.intermediate_key,
            ca=False,
            start=begin,
            days=days,
        )
        self.issued.append(cert)
        return LocalSigningKey(cert, (self.intermediate, self.root), key)


def make_claims_pki() -> ClaimsPki:
    now = datetime.now(UTC) - timedelta(days=400)
    root_key, inter_key = _key(1), _key(2)
    root = _cert("Sen Health test root CA", root_key, None, root_key, ca=True, start=now, days=3650)
    inter = _cert("Sen Health test issuing CA", inter_key, root, root_key, ca=True, start=now, days=1825)
    return ClaimsPki(root, inter, inter_key)


def other_pki() -> ClaimsPki:
    """A second, unrelated authority (its certificates must not be trusted by the first one's roots)."""
    now = datetime.now(UTC) - timedelta(days=2)
    root_key, inter_key = _key(4), _key(5)
    root = _cert("Untrusted root CA", root_key, None, root_key, ca=True, start=now, days=3650)
    inter = _cert("Untrusted issuing CA", inter_key, root, root_key, ca=True, start=now, days=1825)
    return ClaimsPki(root, inter, inter_key)


# --- the FHIR store --------------------------------------------------------------------------------

T = TypeVar("T")


def run_with_store(url: str, body: Callable[[FhirStore], Awaitable[T]]) -> T:
    """Run ``body(store)`` with the process pool open on ``url``."""

    async def main() -> T:
        await open_pool(url, max_size=6)
        try:
            return await body(FhirStore(get_pool()))
        finally:
            await close_pool()

    return asyncio.run(main())


async def counts(store: FhirStore) -> tuple[int, int]:
    """(live resources, versions in history): what a refused import must leave unchanged."""
    async with transaction(store.pool) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM fhir_resource), (SELECT count(*) FROM fhir_history)"
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def by_identifier(store: FhirStore, res_type: str, system: str, value: str) -> list[dict[str, Any]]:
    async with transaction(store.pool) as conn:
        request = parse_search(res_type, [("identifier", f"{system}|{value}")])
        result = await search(conn, request, await store.param_ids())
    return [r.content for r in result.matches]


async def with_encounter(
    store: FhirStore, res_type: str, encounter_id: str, param: str = "encounter"
) -> list[dict[str, Any]]:
    async with transaction(store.pool) as conn:
        request = parse_search(res_type, [(param, f"Encounter/{encounter_id}"), ("_count", "500")])
        result = await search(conn, request, await store.param_ids())
    return [r.content for r in result.matches]


# --- a visit recorded natively in FHIR (as a hospital system would), for the export ------------------

LICENCE = "https://senhealth.vn/fhir/sid/practising-licence"
FACILITY = "https://senhealth.vn/fhir/sid/facility"
ICD10_VN = "https://senhealth.vn/fhir/CodeSystem/icd10-vn"


def native_visit(
    facility_code: str = "01001", suffix: str = "a", *, inpatient: bool = True
) -> list[dict[str, Any]]:
    """A finished visit in FHIR: Organization, Practitioner, Patient (CCCD and insurance card),
    Encounter with two diagnoses, drugs, a service and a supply, lab results, a progress note, a
    referral and a re-visit appointment. Resources carry ids (written with ``update``)."""
    org, doc, pat, enc = f"org-{suffix}", f"doc-{suffix}", f"pat-{suffix}", f"enc-{suffix}"
    ref = lambda kind, i: {"reference": f"{kind}/{i}"}  # noqa: E731
    subject, context = ref("Patient", pat), ref("Encounter", enc)
    start, end = (
        ("2025-03-10T08:15:00+07:00", "2025-03-14T10:30:00+07:00")
        if inpatient
        else (
            "2025-03-10T08:15:00+07:00",
            "2025-03-10T09:05:00+07:00",
        )
    )
    return [
        {
            "resourceType": "Organization",
            "id": org,
            "identifier": [{"system": FACILITY, "value": facility_code}],
            "name": "Bệnh viện Đa khoa mẫu (dữ liệu tổng hợp)",
        },
        {
            "resourceType": "Practitioner",
            "id": doc,
            "identifier": [{"system": LICENCE, "value": "000123/HNO-CCHN"}],
            "name": [{"text": "Trần Thị Bình"}],
        },
        {
            "resourceType": "Patient",
            "id": pat,
            "identifier": [
                {"system": "https://senhealth.vn/fhir/sid/cccd", "value": "001085012345"},
                {
                    "system": "https://senhealth.vn/fhir/sid/bhyt",
                    "value": "DN4010123456789",
                    "period": {"start": "2025-01-01", "end": "2025-12-31"},
                },
            ],
            "name": [
                {"use": "official", "family": "Nguyễn", "given": ["Văn", "An"], "text": "Nguyễn Văn An"}
            ],
            "gender": "male",
            "birthDate": "1985-06-15",
            "telecom": [{"system": "phone", "value": "0912345678", "use": "mobile"}],
            "address": [{"use": "home", "text": "Số 5, phường mẫu, Hà Nội (dữ liệu tổng hợp)"}],
        },
        {
            "resourceType": "Condition",
            "id": f"cond1-{suffix}",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": ICD10_VN, "code": "J18.9"}]},
            "subject": subject,
            "encounter": context,
        },
        {
            "resourceType": "Condition",
            "id": f"cond2-{suffix}",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
            "subject": subject,
            "encounter": context,
        },
        {
            "resourceType": "Encounter",
            "id": enc,
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP" if inpatient else "AMB",
            },
            "subject": subject,
            "participant": [{"individual": ref("Practitioner", doc)}],
            "period": {"start": start, "end": end},
            "reasonCode": [{"text": "Sốt, ho"}],
            "diagnosis": [
                {"condition": ref("Condition", f"cond2-{suffix}"), "rank": 2},
                {"condition": ref("Condition", f"cond1-{suffix}"), "rank": 1},
            ],
            "serviceProvider": ref("Organization", org),
        },
        {
            "resourceType": "MedicationRequest",
            "id": f"med1-{suffix}",
            "status": "completed",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "https://senhealth.vn/fhir/CodeSystem/dmdc-drug",
                        "code": "05.2210",
                        "display": "Amoxicilin",
                    }
                ]
            },
            "subject": subject,
            "encounter": context,
            "authoredOn": "2025-03-10T08:40:00+07:00",
            "requester": ref("Practitioner", doc),
            "dosageInstruction": [{"text": "1 viên x 3 lần/ngày", "patientInstruction": "Uống sau ăn"}],
            "dispenseRequest": {"quantity": {"value": 21, "unit": "Viên"}},
        },
        {
            "resourceType": "MedicationAdministration",
            "id": f"med2-{suffix}",
            "status": "completed",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "https://senhealth.vn/fhir/CodeSystem/dmdc-drug",
                        "code": "05.5507",
                        "display": "Natri clorid 0,9%",
                    }
                ]
            },
            "subject": subject,
            "context": context,
            "effectiveDateTime": "2025-03-10T09:00:00+07:00",
            "dosage": {"dose": {"value": 2.5, "unit": "Chai"}},
        },
        {
            "resourceType": "ChargeItem",
            "id": f"charge1-{suffix}",
            "status": "billable",
            "code": {
                "coding": [
                    {
                        "system": "https://senhealth.vn/fhir/CodeSystem/dmdc-service",
                        "code": "22.0120",
                        "display": "Định lượng Glucose",
                    }
                ]
            },
            "subject": subject,
            "context": context,
            "occurrenceDateTime": "2025-03-10T08:50:00+07:00",
            "quantity": {"value": 1, "unit": "Lần"},
            "priceOverride": {"value": 26900, "currency": "VND"},
        },
        {
            "resourceType": "ChargeItem",
            "id": f"charge2-{suffix}",
            "status": "billable",
            "code": {
                "coding": [
                    {
                        "system": "https://senhealth.vn/fhir/CodeSystem/dmdc-supply",
                        "code": "N03.02.070",
                        "display": "Bơm tiêm 5ml",
                    }
                ]
            },
            "subject": subject,
            "context": context,
            "occurrenceDateTime": "2025-03-10T09:00:00+07:00",
            "quantity": {"value": 3, "unit": "Cái"},
        },
        {
            "resourceType": "Procedure",
            "id": f"proc1-{suffix}",
            "status": "completed",
            "code": {
                "coding": [
                    {
                        "system": "https://senhealth.vn/fhir/CodeSystem/dmdc-service",
                        "code": "18.0001",
                        "display": "Chụp X-quang ngực thẳng",
                    },
                    {"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "87.44"},
                ]
            },
            "subject": subject,
            "encounter": context,
            "performedDateTime": "2025-03-10T10:00:00+07:00",
        },
        {
            "resourceType": "Observation",
            "id": f"obs1-{suffix}",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}], "text": "Glucose máu"},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": "2025-03-10T09:30:00+07:00",
            "valueQuantity": {"value": 7.8, "unit": "mmol/L"},
        },
        {
            "resourceType": "Observation",
            "id": f"obs2-{suffix}",
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
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": "2025-03-10T08:20:00+07:00",
            "valueQuantity": {
                "value": 62.5,
                "unit": "kg",
                "system": "http://unitsofmeasure.org",
                "code": "kg",
            },
        },
        {
            "resourceType": "ClinicalImpression",
            "id": f"ci1-{suffix}",
            "status": "completed",
            "subject": subject,
            "encounter": context,
            "effectiveDateTime": "2025-03-11T08:00:00+07:00",
            "description": "Ngày 2: hết sốt, còn ho ít",
            "assessor": ref("Practitioner", doc),
        },
        {
            "resourceType": "ServiceRequest",
            "id": f"ref1-{suffix}",
            "status": "completed",
            "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}],
            "code": {"text": "Chuyển tuyến"},
            "subject": subject,
            "encounter": context,
            "requester": ref("Practitioner", doc),
            "performer": [{"identifier": {"system": FACILITY, "value": "01002"}}],
            "reasonCode": [{"coding": [{"system": ICD10_VN, "code": "J18.9"}]}],
            "patientInstruction": "Điều trị tiếp tại tuyến trên",
        },
        {
            "resourceType": "Appointment",
            "id": f"appt1-{suffix}",
            "status": "booked",
            "start": "2025-03-28T08:00:00+07:00",
            "end": "2025-03-28T08:30:00+07:00",
            "supportingInformation": [context],
            "participant": [{"actor": subject, "status": "accepted"}],
        },
    ]


async def put_all(store: FhirStore, resources: list[dict[str, Any]]) -> None:
    async with store.transaction() as tx:
        for resource in resources:
            await tx.update(resource)
