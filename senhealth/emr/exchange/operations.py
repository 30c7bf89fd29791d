"""The exchange operations: ``$hosobenhan``, ``$health-book`` and ``$e-prescription``.

Spec: https://hl7.org/fhir/R4/operations.html (instance-level operations, GET for those that do not
change state; a non-FHIR answer is sent with its own media type). The operations are the project's own
(OperationDefinitions under ``https://senhealth.vn/fhir/OperationDefinition/``):

- ``GET [base]/Patient/[id]/$hosobenhan?format=json|xml``: the patient's records, one ``HoSoBenhAn`` per
  encounter under ``DanhSachHoSoBenhAn``; ``GET [base]/Encounter/[id]/$hosobenhan?format=json|xml``: the
  one record (:mod:`senhealth.emr.exchange.hosobenhan`). ``application/json`` (default) or
  ``application/xml``.
- ``GET [base]/Patient/[id]/$health-book?format=json|fhir``: the electronic-health-book extract, sensitive
  data filtered out (:mod:`senhealth.emr.exchange.health_book`): the book as ``application/json``
  (default) or the same facts as a FHIR ``collection`` Bundle.
- ``GET [base]/Composition/[id]/$e-prescription?kind=c|n|h|y``: the National Prescription System message of
  a prescription document (:mod:`senhealth.emr.exchange.eprescription`), ``application/json``.

All read the record under the caller's access restriction; de-identified access is refused (these
formats identify the patient).
"""

from __future__ import annotations

import json
from typing import Final

from senhealth.emr.documents.record import load_record
from senhealth.emr.exchange.eprescription import eprescription
from senhealth.emr.exchange.health_book import health_book
from senhealth.emr.exchange.hosobenhan import encounter_record, patient_records, to_json, to_xml
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import Gone, NotFound

__all__ = [
    "E_PRESCRIPTION",
    "HEALTH_BOOK",
    "HOSOBENHAN",
    "register_exchange_operations",
    "unregister_exchange_operations",
]

_OD: Final = "https://senhealth.vn/fhir/OperationDefinition/"
HOSOBENHAN: Final = _OD + "hosobenhan"
HEALTH_BOOK: Final = _OD + "health-book"
E_PRESCRIPTION: Final = _OD + "e-prescription"


def _format(call: OperationCall, allowed: tuple[str, ...]) -> str:
    value = (call.text("format") or allowed[0]).lower()
    if value not in allowed:
        raise OperationError(400, f"format: one of {', '.join(allowed)}", "invalid", "format")
    return value


def _identifying(call: OperationCall) -> None:
    if call.restriction is not None and call.restriction.deidentified:
        raise OperationError(
            403, "This export identifies the patient: not available to de-identified access", "forbidden"
        )


async def _subject_of(call: OperationCall, res_type: str) -> tuple[str, dict[str, object]]:
    assert call.resource_id is not None
    try:
        content = (await call.store.read(res_type, call.resource_id)).content or {}
    except (NotFound, Gone):
        raise OperationError(404, f"{res_type}/{call.resource_id} is not known", "not-found") from None
    ref = (content.get("subject") or {}).get("reference")
    if not isinstance(ref, str) or not ref.startswith("Patient/"):
        raise OperationError(
            422, f"The {res_type} names no patient ({res_type}.subject)", "invalid", f"{res_type}.subject"
        )
    return ref.removeprefix("Patient/"), content


def _attachment(name: str, fmt: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}


async def _hosobenhan(call: OperationCall) -> OperationResult:
    _identifying(call)
    fmt = _format(call, ("json", "xml"))
    assert call.resource_id is not None
    if call.resource_type == "Encounter":
        patient_id, _ = await _subject_of(call, "Encounter")
        record = await load_record(call.store, patient_id, restriction=call.restriction)
        if record.encounter(call.resource_id) is None:
            raise OperationError(404, f"Encounter/{call.resource_id} is not known", "not-found")
        document = encounter_record(record, call.resource_id)
        name = f"HoSoBenhAn_{call.resource_id}"
    else:
        record = await load_record(call.store, call.resource_id, restriction=call.restriction)
        document = patient_records(record)
        name = f"DanhSachHoSoBenhAn_{call.resource_id}"
    if fmt == "xml":
        return OperationResult(
            None, content=to_xml(document), media_type="application/xml", headers=_attachment(name, fmt)
        )
    return OperationResult(
        None, content=to_json(document), media_type="application/json", headers=_attachment(name, fmt)
    )


async def _health_book(call: OperationCall) -> OperationResult:
    _identifying(call)
    fmt = _format(call, ("json", "fhir"))
    assert call.resource_id is not None
    record = await load_record(call.store, call.resource_id, restriction=call.restriction)
    book = health_book(record, base_url=call.base_url)
    if fmt == "fhir":
        return OperationResult(book.bundle)
    return OperationResult(None, content=book.json_bytes(), media_type="application/json")


async def _e_prescription(call: OperationCall) -> OperationResult:
    _identifying(call)
    patient_id, composition = await _subject_of(call, "Composition")
    record = await load_record(call.store, patient_id, restriction=call.restriction)
    message = eprescription(record, composition, kind=(call.text("kind") or "c"))
    body = json.dumps(message.as_json(), ensure_ascii=False, indent=1).encode("utf-8")
    return OperationResult(None, content=body, media_type="application/json")


def register_exchange_operations() -> None:
    """Register ``$hosobenhan``, ``$health-book`` and ``$e-prescription`` (replacing earlier ones)."""
    register(
        Operation(
            name="hosobenhan",
            handler=_hosobenhan,
            levels=frozenset({"instance"}),
            definition=HOSOBENHAN,
            resource_types=frozenset({"Patient", "Encounter"}),
            documentation="The medical record as HoSoBenhAn JSON or XML (Dispatch 365 groups).",
        ),
        replace=True,
    )
    register(
        Operation(
            name="health-book",
            handler=_health_book,
            levels=frozenset({"instance"}),
            definition=HEALTH_BOOK,
            resource_types=frozenset({"Patient"}),
            documentation="The electronic-health-book extract, sensitive data filtered out.",
        ),
        replace=True,
    )
    register(
        Operation(
            name="e-prescription",
            handler=_e_prescription,
            levels=frozenset({"instance"}),
            definition=E_PRESCRIPTION,
            resource_types=frozenset({"Composition"}),
            documentation="The National Prescription System message of a prescription document.",
        ),
        replace=True,
    )


def unregister_exchange_operations() -> None:
    """Remove them (tests)."""
    for name in ("hosobenhan", "health-book", "e-prescription"):
        unregister(name)
