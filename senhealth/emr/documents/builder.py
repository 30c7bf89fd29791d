"""Creating a clinical document: a Composition of one of the national forms, assembled from what the
store holds for an encounter.

Spec: https://hl7.org/fhir/R4/composition.html (``status`` ``preliminary`` until signed; ``type``, ``subject``,
``encounter``, ``date``, ``author``, ``title``, ``custodian``, ``event``; each section with ``title``,
``code``, ``text`` and ``entry``; cmp-1: a section has text, entries or sub-sections; cmp-2: an
``emptyReason`` only on a section with no entries) and https://hl7.org/fhir/R4/documents.html.

:func:`create_document` reads the patient's record (:func:`~senhealth.emr.documents.record.load_record`),
fills each section of the form (:mod:`senhealth.emr.documents.sections`) and writes the narrative in
Vietnamese (:mod:`senhealth.emr.documents.narrative`). Each section carries its key as ``section.id``
and the form's field values in the extension :data:`FORM_FIELD_EXT` (``key``, ``value``), so printing and
the exports read the fields without parsing the narrative (:func:`form_fields`).

``confidentiality`` is ``R`` (restricted) when a section names a resource the sensitivity rules of
:mod:`senhealth.emr.exchange.sensitive` cover (HIV...), else ``N``.

The author's input is ``fields``: ``"section.field" -> text`` replaces a value read from the record (or
gives one the record cannot: the treatment method, the state at transfer, the transport...);
``"section" -> text`` adds free text to that section. An unknown section or field is refused (400).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

from senhealth.emr.documents.document import DocumentError
from senhealth.emr.documents.narrative import EMPTY_TEXT, div, section_div
from senhealth.emr.documents.record import ClinicalRecord, load_record
from senhealth.emr.documents.sections import (
    FACILITY_SYSTEM,
    PRESCRIPTION_CODE_SYSTEM,
    Context,
    new_prescription_code,
    section_content,
)
from senhealth.emr.documents.types import DOCUMENT_TYPES, DocumentType, document_type_for_code
from senhealth.emr.documents.values import VN_TZ, identifier_value, local_ref, name_text, vn_date
from senhealth.emr.exchange.sensitive import is_sensitive
from senhealth.fhir.access import Restriction
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = [
    "DOCUMENT_ID_SYSTEM",
    "EMPTY_REASON_SYSTEM",
    "FORM_FIELD_EXT",
    "create_document",
    "form_fields",
    "missing_fields",
    "parse_fields",
]

FORM_FIELD_EXT: Final = "https://senhealth.vn/fhir/StructureDefinition/form-field"
DOCUMENT_ID_SYSTEM: Final = "https://senhealth.vn/fhir/sid/document"
EMPTY_REASON_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
_EMPTY_DISPLAY: Final = {"nilknown": "Nil Known", "notstarted": "Not Started"}


def parse_fields(doc_type: DocumentType, fields: Mapping[str, str] | None) -> dict[str, dict[str, str]]:
    """``section key -> {field key or "" (free text) -> text}``; 400 for a key the form does not have."""
    out: dict[str, dict[str, str]] = {}
    for key, value in (fields or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise DocumentError(400, "Each field is a name and a text", "invalid", "field")
        section_key, _, field_key = key.partition(".")
        try:
            section = doc_type.section(section_key)
        except KeyError:
            known = ", ".join(s.key for s in doc_type.sections)
            raise DocumentError(
                400,
                f"field {key!r}: the form {doc_type.key} has no section {section_key!r} (sections: {known})",
                "invalid",
                "field",
            ) from None
        if field_key and field_key not in {f.key for f in section.fields}:
            known = ", ".join(f.key for f in section.fields) or "none"
            raise DocumentError(
                400,
                f"field {key!r}: the section {section_key!r} has no field {field_key!r} (fields: {known})",
                "invalid",
                "field",
            )
        if len(value) > 20_000:
            raise DocumentError(400, f"field {key!r} is longer than 20,000 characters", "too-long", "field")
        out.setdefault(section_key, {})[field_key] = value.strip()
    return out


async def _read(store: FhirStore, res_type: str, res_id: str, what: str) -> dict[str, Any]:
    try:
        stored = await store.read(res_type, res_id)
    except (NotFound, Gone):
        raise DocumentError(422, f"{what}: {res_type}/{res_id} is not known", "not-found", what) from None
    assert stored.content is not None
    return stored.content


def _field_extension(values: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "url": FORM_FIELD_EXT,
            "extension": [{"url": "key", "valueCode": k}, {"url": "value", "valueString": v}],
        }
        for k, v in values.items()
    ]


async def create_document(
    store: FhirStore,
    type_code: str,
    *,
    patient_id: str,
    encounter_id: str,
    author_practitioner_id: str,
    custodian_org_id: str,
    fields: Mapping[str, str] | None = None,
    title: str | None = None,
    replaces: str | None = None,
    restriction: Restriction | None = None,
    persist: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A ``preliminary`` Composition of the form ``type_code`` for ``Encounter/{encounter_id}`` (stored
    unless ``persist`` is False; the stored version is returned, with its id).

    ``fields``: the author's input (see the module docstring); ``replaces``: the id of the Composition this
    one corrects (``relatesTo`` ``replaces``); ``restriction``: the caller's access to the patient's data.
    Raises :class:`DocumentError` (400 bad input, 404 patient not visible, 422 a reference that does not
    resolve or an encounter of another patient).
    """
    doc_type = DOCUMENT_TYPES.get(type_code)
    if doc_type is None:
        raise DocumentError(
            400,
            f"type: unknown document type {type_code!r}; known: {', '.join(DOCUMENT_TYPES)}",
            "invalid",
            "type",
        )
    given = parse_fields(doc_type, fields)
    record = await load_record(store, patient_id, restriction=restriction)
    encounter = record.encounter(encounter_id)
    if encounter is None:
        raise DocumentError(
            422,
            f"encounter: Encounter/{encounter_id} is not an encounter of Patient/{patient_id}",
            "not-found",
            "encounter",
        )
    author = await _read(store, "Practitioner", author_practitioner_id, "author")
    custodian = await _read(store, "Organization", custodian_org_id, "custodian")
    relates: list[dict[str, Any]] = []
    if replaces:
        await _read(store, "Composition", replaces, "replaces")
        relates.append({"code": "replaces", "targetReference": local_ref("Composition", replaces)})
    moment = (now or datetime.now(UTC)).astimezone(VN_TZ)
    prescription_code: str | None = None
    if doc_type.key == "prescription":
        prescription_code = given.get("prescription-info", {}).get(
            "prescriptionCode"
        ) or new_prescription_code(identifier_value(custodian, (FACILITY_SYSTEM,)) or "")
    ctx = Context(record, doc_type, encounter, author, custodian, moment, prescription_code)

    sections: list[dict[str, Any]] = []
    for st in doc_type.sections:
        content = section_content(ctx, st)
        mine = given.get(st.key, {})
        values = dict(content.fields)
        values.update({k: v for k, v in mine.items() if k})
        ordered = {f.key: values[f.key] for f in st.fields if values.get(f.key)}
        text = section_div(st.fields, ordered, content.columns, content.rows, mine.get(""))
        section: dict[str, Any] = {"id": st.key}
        if ordered:
            section["extension"] = _field_extension(ordered)
        section["title"] = st.title_vi
        section["code"] = {"coding": [st.coding()], "text": st.title_en}
        section["text"] = {"status": "generated" if not mine else "additional", "div": text}
        if content.entries:
            section["entry"] = content.entries
        elif not ordered and not mine.get(""):
            section["emptyReason"] = {
                "coding": [
                    {
                        "system": EMPTY_REASON_SYSTEM,
                        "code": content.empty_reason,
                        "display": _EMPTY_DISPLAY.get(content.empty_reason, content.empty_reason),
                    }
                ],
                "text": EMPTY_TEXT,
            }
        sections.append(section)

    patient_name = name_text(record.patient)
    period = encounter.get("period") if isinstance(encounter.get("period"), Mapping) else None
    comp: dict[str, Any] = {
        "resourceType": "Composition",
        "language": "vi",
        "text": {
            "status": "generated",
            "div": div(
                f"<p><b>{escape(doc_type.title_vi)}</b> ({escape(doc_type.title_en)})</p>"
                f"<p>{escape(patient_name)} – {escape(name_text(custodian))} – {vn_date(moment.date().isoformat())}</p>"
            ),
        },
        "identifier": (
            {"system": PRESCRIPTION_CODE_SYSTEM, "value": prescription_code}
            if prescription_code
            else {"system": DOCUMENT_ID_SYSTEM, "value": str(uuid.uuid4())}
        ),
        "status": "preliminary",
        "type": {"coding": [doc_type.coding(), doc_type.local_coding()], "text": doc_type.title_vi},
        "subject": local_ref("Patient", patient_id),
        "encounter": local_ref("Encounter", encounter_id),
        "date": moment.isoformat(timespec="seconds"),
        "author": [local_ref("Practitioner", author_practitioner_id)],
        "title": title or doc_type.title_vi,
        "confidentiality": _confidentiality(record, sections),
        "custodian": local_ref("Organization", custodian_org_id),
    }
    if relates:
        comp["relatesTo"] = relates
    if period:
        comp["event"] = [{"period": dict(period), "detail": [local_ref("Encounter", encounter_id)]}]
    comp["section"] = sections
    if not persist:
        return comp
    stored = await store.create(comp)
    assert stored.content is not None
    return stored.content


def _confidentiality(record: ClinicalRecord, sections: list[dict[str, Any]]) -> str:
    """``R`` (restricted) when a section names a resource the sensitivity rules cover (HIV...), else ``N``."""
    for section in sections:
        for ref in section.get("entry") or []:
            found = record.resolve(ref)
            if found is not None and is_sensitive(found):
                return "R"
    return "N"


def form_fields(composition: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``section key -> {field key -> value}`` as :func:`create_document` recorded them."""
    out: dict[str, dict[str, str]] = {}
    for section in composition.get("section") or []:
        if not isinstance(section, Mapping):
            continue
        key = str(section.get("id") or "")
        values: dict[str, str] = {}
        for ext in section.get("extension") or []:
            if not isinstance(ext, Mapping) or ext.get("url") != FORM_FIELD_EXT:
                continue
            parts = {e.get("url"): e for e in ext.get("extension") or [] if isinstance(e, Mapping)}
            k = (parts.get("key") or {}).get("valueCode")
            v = (parts.get("value") or {}).get("valueString")
            if isinstance(k, str) and isinstance(v, str):
                values[k] = v
        out[key] = values
    return out


def missing_fields(composition: Mapping[str, Any]) -> list[str]:
    """The form's required fields (``section.field``) a Composition leaves empty: what the author still
    has to fill before signing. Unknown document types: ``[]``."""
    doc_type = document_type_for_code(composition.get("type"))
    if doc_type is None:
        return []
    have = form_fields(composition)
    out: list[str] = []
    for st in doc_type.sections:
        for f in st.fields:
            if f.required and not have.get(st.key, {}).get(f.key):
                out.append(f"{st.key}.{f.key}")
    return out
