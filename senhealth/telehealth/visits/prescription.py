"""The prescription after a remote visit: MedicationRequests, the prescription document and the
e-prescription message for the National Prescription System.

Spec: https://hl7.org/fhir/R4/medicationrequest.html (``status`` active, ``intent`` order,
``encounter``, ``requester``, ``authoredOn``, ``dosageInstruction.text``, ``dispenseRequest.quantity`` and
``expectedSupplyDuration``); the prescription form and message of docs/documents.md
(:func:`senhealth.emr.documents.builder.create_document` with type ``prescription``,
:func:`senhealth.emr.exchange.eprescription.eprescription`); ``vietnam.md`` §2 (Circular 26/2025: every
prescription goes to the national system after the visit, carries the personal ID, is signed).

:func:`prescribe_after_visit` takes the drugs the practitioner gives, checks first what the message
needs (the patient's personal ID, or for a child under 72 months a guardian; at least one drug; a
diagnosis on the Encounter), writes the MedicationRequests (one transaction, with the audit event
``remote-visit-prescribe``), builds the prescription Composition from the Encounter (its own transaction,
through the documents module) and the message. The prescription is signed like every document:
``Composition/{id}/$sign``; ``Composition/{id}/$e-prescription`` answers the same message later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from senhealth.emr.documents.builder import create_document
from senhealth.emr.documents.record import load_record
from senhealth.emr.documents.values import CCCD_SYSTEM
from senhealth.emr.exchange.eprescription import EPrescription, eprescription
from senhealth.fhir.access import Principal, Restriction
from senhealth.fhir.store import FhirStore, Gone, NotFound
from senhealth.telehealth.visits.encounter import is_remote_encounter
from senhealth.telehealth.visits.model import VisitError, audit, fhir_time, ref_id, require_practitioner

__all__ = ["DRUG_SYSTEM", "Drug", "Prescribed", "prescribe_after_visit"]

#: The common drug code list of the claim data (``MA_THUOC``), as the claims module names it.
DRUG_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/dmdc-drug"
ATC: Final = "http://www.whocc.no/atc"


@dataclass(frozen=True, slots=True)
class Drug:
    """One prescribed drug: ``code`` (national drug code, or ``atc:<code>``), the name with strength, the
    quantity to dispense and its unit, how to take it, and for how many days."""

    name: str
    quantity: Decimal
    unit: str
    dosage: str
    days: int | None = None
    code: str = ""


@dataclass(frozen=True, slots=True)
class Prescribed:
    """What was written: the MedicationRequests, the prescription Composition, the message."""

    requests: list[dict[str, Any]]
    composition: dict[str, Any]
    message: EPrescription


def _child_with_guardian(patient: dict[str, Any], today: date) -> bool:
    try:
        born = date.fromisoformat(str(patient.get("birthDate") or "")[:10])
    except ValueError:
        return False
    months = (today.year - born.year) * 12 + today.month - born.month
    return months < 72 and bool(patient.get("contact"))


def _request(
    drug: Drug, encounter: dict[str, Any], practitioner: str | None, when: datetime
) -> dict[str, Any]:
    coding: list[dict[str, Any]] = []
    if drug.code:
        system, code = (ATC, drug.code[4:]) if drug.code.startswith("atc:") else (DRUG_SYSTEM, drug.code)
        coding.append({"system": system, "code": code, "display": drug.name})
    dispense: dict[str, Any] = {
        "quantity": {"value": drug.quantity, "unit": drug.unit},
        "validityPeriod": {"start": fhir_time(when)},
    }
    if drug.days:
        dispense["expectedSupplyDuration"] = {
            "value": drug.days,
            "unit": "ngày",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": coding, "text": drug.name} if coding else {"text": drug.name},
        "subject": encounter["subject"],
        "encounter": {"reference": f"Encounter/{encounter['id']}"},
        "authoredOn": fhir_time(when),
        "dosageInstruction": [{"text": drug.dosage}],
        "dispenseRequest": dispense,
    }
    if practitioner:
        request["requester"] = {"reference": practitioner}
    return request


async def prescribe_after_visit(
    store: FhirStore,
    encounter_id: str,
    drugs: Sequence[Drug],
    *,
    principal: Principal | None,
    advice: str = "",
    revisit: date | None = None,
    restriction: Restriction | None = None,
    kind: str = "c",
    now: datetime | None = None,
) -> Prescribed:
    """Prescribe ``drugs`` after the remote visit ``encounter_id`` (see the module)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    if not drugs:
        raise VisitError(
            400, "Cần ít nhất một thuốc / at least one drug is required", "required", "medication"
        )
    for i, drug in enumerate(drugs):
        if not drug.name.strip() or not drug.unit.strip() or not drug.dosage.strip() or drug.quantity <= 0:
            raise VisitError(400, "Mỗi thuốc cần tên, số lượng > 0, đơn vị, cách dùng / each drug needs a name, a "
                             "quantity above 0, a unit and how to take it", "required", f"medication[{i}]")  # fmt: skip
    try:
        stored = await store.read("Encounter", encounter_id)
    except (NotFound, Gone):
        raise VisitError(404, f"Encounter/{encounter_id} không có / is not known", "not-found") from None
    encounter = stored.content or {}
    if not is_remote_encounter(encounter):
        raise VisitError(422, "Không phải buổi khám từ xa / not a remote-visit Encounter", "invalid")
    if encounter.get("status") not in ("in-progress", "finished"):
        raise VisitError(409, f"Buổi khám đang {encounter.get('status')} / the visit is {encounter.get('status')}",
                         "conflict")  # fmt: skip
    if not encounter.get("diagnosis"):
        raise VisitError(409, "Kết thúc buổi khám với chẩn đoán trước khi kê đơn / finish the visit with a "
                         "diagnosis before prescribing", "conflict", "Encounter.diagnosis")  # fmt: skip
    practitioner = next((p["individual"]["reference"] for p in encounter.get("participant") or []
                         if ref_id(p.get("individual"), "Practitioner")), None)  # fmt: skip
    require_practitioner(principal, practitioner, "kê đơn / prescribe")
    patient_id = ref_id(encounter.get("subject"), "Patient") or ""
    organization = ref_id(encounter.get("serviceProvider"), "Organization")
    if not organization or not practitioner:
        raise VisitError(422, "Buổi khám thiếu cơ sở hoặc bác sĩ / the visit has no facility or practitioner",
                         "invalid", "Encounter.serviceProvider")  # fmt: skip
    patient = (await store.read("Patient", patient_id)).content or {}
    has_id = any(i.get("system") == CCCD_SYSTEM and i.get("value") for i in patient.get("identifier") or [])
    if not has_id and not _child_with_guardian(patient, when.date()):
        raise VisitError(422, "Đơn thuốc điện tử cần số định danh cá nhân của người bệnh / the e-prescription "
                         "needs the patient's personal ID", "required", "Patient.identifier")  # fmt: skip
    requests: list[dict[str, Any]] = []
    async with store.transaction() as tx:
        for drug in drugs:
            created = await tx.create(_request(drug, {**encounter, "id": encounter_id}, practitioner, when))
            assert created.content is not None
            requests.append(created.content)
        await audit(tx, principal, action="create", res_type="Encounter", res_id=encounter_id, step="prescribe",
                    patient=patient_id, when=when,
                    medicationRequests=[f"MedicationRequest/{r['id']}" for r in requests])  # fmt: skip
    fields: dict[str, str] = {}
    if advice.strip():
        fields["instructions.advice"] = advice.strip()
    if revisit is not None:
        fields["follow-up.revisitDate"] = f"{revisit:%d/%m/%Y}"
    composition = await create_document(
        store,
        "prescription",
        patient_id=patient_id,
        encounter_id=encounter_id,
        author_practitioner_id=ref_id(practitioner, "Practitioner") or "",
        custodian_org_id=organization,
        fields=fields,
        restriction=restriction,
        now=when,
    )
    record = await load_record(store, patient_id, restriction=restriction)
    message = eprescription(record, composition, kind=kind)
    return Prescribed(requests, composition, message)
