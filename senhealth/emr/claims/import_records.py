"""Claim records → FHIR resources, the tables after XML1: drugs, services, results, progress notes,
papers, referral, re-visit, and the tables kept as Basic; :func:`claim_resources` assembles a visit.

Spec: FHIR R4 MedicationRequest, ChargeItem, Observation, ClinicalImpression, Composition,
ServiceRequest, Appointment, Basic (https://hl7.org/fhir/R4/); the claim tables
(:mod:`senhealth.emr.claims.tables`). The mapping as a whole, ids and the claim extension:
:mod:`senhealth.emr.claims.import_mapping`; the field-by-field table: docs/claims.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Final

from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.import_mapping import (
    CONSUMED,
    PATIENT_FIELDS,
    SECTIONS,
    ImportContext,
    Record,
    conditions,
    encounter,
    icd_concept,
    practitioner,
    quantity,
    reference,
    split_list,
    weight,
)

__all__ = ["claim_resources"]

_TABLE_NAMES: Final = {
    "XML6": "Hồ sơ bệnh án chăm sóc và điều trị HIV/AIDS",
    "XML9": "Giấy chứng sinh",
    "XML10": "Giấy chứng nhận nghỉ dưỡng thai",
    "XML11": "Giấy chứng nhận nghỉ việc hưởng bảo hiểm xã hội",
    "XML12": "Giám định y khoa",
    "XML15": "Thông tin quản lý điều trị bệnh lao",
}


def _medication(ctx: ImportContext, n: int, row: Record) -> dict[str, Any]:
    med: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": ctx.rid("XML2", str(n)),
        "identifier": [ctx.row("XML2", n)],
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": t.DRUG, "code": row.get("MA_THUOC", ""), "display": row.get("TEN_THUOC") or None}
            ],
            "text": row.get("TEN_THUOC", "") or row.get("MA_THUOC", ""),
        },
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
    }
    if med["medicationCodeableConcept"]["coding"][0]["display"] is None:
        del med["medicationCodeableConcept"]["coding"][0]["display"]
    if row.get("NGAY_YL"):
        med["authoredOn"] = t.fhir_time(row["NGAY_YL"])
    dosage: dict[str, Any] = {}
    if row.get("LIEU_DUNG"):
        dosage["text"] = row["LIEU_DUNG"]
    if row.get("CACH_DUNG"):
        dosage["patientInstruction"] = row["CACH_DUNG"]
    if row.get("DUONG_DUNG"):
        dosage["route"] = {"coding": [{"system": t.ROUTE, "code": row["DUONG_DUNG"]}]}
    if dosage:
        med["dosageInstruction"] = [dosage]
    if row.get("SO_LUONG"):
        med["dispenseRequest"] = {"quantity": quantity(row["SO_LUONG"], row.get("DON_VI_TINH", ""))}
    t.with_claim_fields(med, "XML2", row, CONSUMED["XML2"])
    return med


def _charge(ctx: ImportContext, n: int, row: Record) -> dict[str, Any]:
    codings = []
    if row.get("MA_DICH_VU"):
        coding = {"system": t.SERVICE, "code": row["MA_DICH_VU"]}
        if row.get("TEN_DICH_VU"):
            coding["display"] = row["TEN_DICH_VU"]
        codings.append(coding)
    if row.get("MA_VAT_TU"):
        coding = {"system": t.SUPPLY, "code": row["MA_VAT_TU"]}
        if row.get("TEN_VAT_TU"):
            coding["display"] = row["TEN_VAT_TU"]
        codings.append(coding)
    item: dict[str, Any] = {
        "resourceType": "ChargeItem",
        "id": ctx.rid("XML3", str(n)),
        "identifier": [ctx.row("XML3", n)],
        "status": "billable",
        "code": {"coding": codings, "text": row.get("TEN_DICH_VU") or row.get("TEN_VAT_TU") or ""},
        "subject": reference(ctx.patient_ref),
        "context": reference(ctx.encounter_ref),
    }
    if not item["code"]["text"]:
        del item["code"]["text"]
    if row.get("NGAY_YL"):
        item["occurrenceDateTime"] = t.fhir_time(row["NGAY_YL"])
    if row.get("SO_LUONG"):
        item["quantity"] = quantity(row["SO_LUONG"], row.get("DON_VI_TINH", ""))
    if row.get("DON_GIA_BV"):
        item["priceOverride"] = {"value": t.parse_number(row["DON_GIA_BV"]), "currency": "VND"}
    reasons = [icd_concept(c) for c in split_list(row.get("MA_BENH", ""))]
    if reasons:
        item["reason"] = reasons
    t.with_claim_fields(item, "XML3", row, CONSUMED["XML3"])
    return item


def _result(ctx: ImportContext, n: int, row: Record) -> dict[str, Any]:
    code: dict[str, Any] = {"text": row.get("TEN_CHI_SO", "")}
    if row.get("MA_CHI_SO"):
        code["coding"] = [
            {
                "system": t.INDEX,
                "code": row["MA_CHI_SO"],
                "display": row.get("TEN_CHI_SO") or row["MA_CHI_SO"],
            }
        ]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ctx.rid("XML4", str(n)),
        "identifier": [ctx.row("XML4", n)],
        "status": "final" if row.get("GIA_TRI") else "registered",
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
        "code": code,
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
    }
    if row.get("NGAY_KQ"):
        obs["effectiveDateTime"] = t.fhir_time(row["NGAY_KQ"])
    value = row.get("GIA_TRI", "")
    number = t.parse_number(value) if value else None
    if number is not None and value.replace(".", "", 1).isdigit():
        quantity: dict[str, Any] = {"value": number}
        if row.get("DON_VI_DO"):
            quantity["unit"] = row["DON_VI_DO"]
        obs["valueQuantity"] = quantity
    elif value:
        obs["valueString"] = value
        if row.get("DON_VI_DO"):  # a unit with a text value: kept as filed
            t.with_claim_fields(obs, "XML4", {"DON_VI_DO": row["DON_VI_DO"]})
    t.with_claim_fields(obs, "XML4", row, CONSUMED["XML4"])
    return obs


def _progress(ctx: ImportContext, n: int, row: Record) -> dict[str, Any]:
    note: dict[str, Any] = {
        "resourceType": "ClinicalImpression",
        "id": ctx.rid("XML5", str(n)),
        "identifier": [ctx.row("XML5", n)],
        "status": "completed",
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
        "description": row.get("DIEN_BIEN_LS", ""),
    }
    if row.get("THOI_DIEM_DBLS"):
        note["effectiveDateTime"] = t.fhir_time(row["THOI_DIEM_DBLS"])
    t.with_claim_fields(note, "XML5", row, CONSUMED["XML5"])
    return note


def _composition(ctx: ImportContext, table: str, row: Record, xml1: Record) -> dict[str, Any]:
    loinc = t.DISCHARGE_SUMMARY if table == "XML7" else t.EPISODE_SUMMARY
    title = "Giấy ra viện / Discharge paper" if table == "XML7" else "Tóm tắt hồ sơ bệnh án / Record summary"
    author: dict[str, Any] = practitioner(row["MA_BS"]) if row.get("MA_BS") else dict(ctx.organization)
    if row.get("TEN_BS") and row.get("MA_BS"):
        author["display"] = row["TEN_BS"]
    date = t.fhir_time(row.get("NGAY_CT", "")) or t.fhir_date(xml1.get("NGAY_RA", "")) or "1900-01-01"
    sections = [
        {
            "title": label,
            "code": {"coding": [{"system": t.CLAIM_FIELD, "code": name}]},
            "text": {"status": "generated", "div": _div(row[name])},
        }
        for name, label in SECTIONS[table]
        if row.get(name)
    ]
    comp: dict[str, Any] = {
        "resourceType": "Composition",
        "id": ctx.rid(table),
        "identifier": ctx.row(table, 1),
        "status": "final",
        "type": {"coding": [{"system": t.LOINC, "code": loinc[0], "display": loinc[1]}]},
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
        "date": date,
        "author": [author],
        "title": title,
        "custodian": ctx.organization if "reference" in ctx.organization else None,
    }
    if comp["custodian"] is None:
        del comp["custodian"]
    if sections:
        comp["section"] = sections
    t.with_claim_fields(comp, table, row, CONSUMED[table])
    return comp


def _div(text: str) -> str:
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(text)}</div>'


def _referral(ctx: ImportContext, row: Record, xml1: Record) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": ctx.rid("XML13"),
        "identifier": [ctx.row("XML13", 1)],
        "status": "completed",
        "intent": "order",
        "category": [{"coding": [{"system": t.SNOMED, "code": t.REFERRAL[0], "display": t.REFERRAL[1]}]}],
        "code": {"text": "Chuyển tuyến / chuyển cơ sở khám bệnh, chữa bệnh"},
        "subject": reference(ctx.patient_ref),
        "encounter": reference(ctx.encounter_ref),
    }
    if row.get("SO_HOSO"):
        request["identifier"].append({"system": t.DOCUMENT_NUMBER, "value": row["SO_HOSO"]})
    when = t.fhir_time(xml1.get("NGAY_RA", ""))
    if when:
        request["authoredOn"] = when
    if row.get("MA_BAC_SI") and ";" not in row["MA_BAC_SI"]:
        request["requester"] = practitioner(row["MA_BAC_SI"])
    if row.get("MA_CSKCB_DEN"):
        request["performer"] = [{"identifier": {"system": t.FACILITY_SYSTEM, "value": row["MA_CSKCB_DEN"]}}]
    codes = ([row["MA_BENH_CHINH"]] if row.get("MA_BENH_CHINH") else []) + split_list(
        row.get("MA_BENH_KT", "")
    )
    if codes:
        request["reasonCode"] = [icd_concept(c) for c in codes]
    if row.get("HUONG_DIEU_TRI"):
        request["patientInstruction"] = row["HUONG_DIEU_TRI"]
    placed = CONSUMED["XML13"] | ({"MA_BAC_SI"} if "requester" in request else set())
    t.with_claim_fields(request, "XML13", row, placed | PATIENT_FIELDS)
    return request


def _appointment(ctx: ImportContext, row: Record) -> dict[str, Any]:
    day = t.fhir_date(row.get("NGAY_HEN_KL", "")) or "1900-01-01"
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": ctx.rid("XML14"),
        "identifier": [ctx.row("XML14", 1)],
        "status": "booked",
        "description": "Hẹn khám lại / Re-visit appointment",
        # the paper names a day, not an hour: the appointment spans that working day
        "start": f"{day}T07:00:00+07:00",
        "end": f"{day}T17:00:00+07:00",
        "supportingInformation": [reference(ctx.encounter_ref)],
        "participant": [{"actor": reference(ctx.patient_ref), "status": "accepted"}],
    }
    if row.get("SO_GIAYHEN_KL"):
        appointment["identifier"].append({"system": t.DOCUMENT_NUMBER, "value": row["SO_GIAYHEN_KL"]})
    if row.get("NGAY_CT") and t.fhir_date(row["NGAY_CT"]):
        appointment["created"] = t.fhir_date(row["NGAY_CT"])
    if row.get("MA_BENH_CHINH"):
        appointment["reasonCode"] = [icd_concept(row["MA_BENH_CHINH"])]
    t.with_claim_fields(appointment, "XML14", row, CONSUMED["XML14"] | PATIENT_FIELDS)
    return appointment


def _basic(ctx: ImportContext, table: str, n: int, row: Record) -> dict[str, Any]:
    basic: dict[str, Any] = {
        "resourceType": "Basic",
        "id": ctx.rid(table, str(n)),
        "identifier": [ctx.row(table, n)],
        "code": {"coding": [{"system": t.CLAIM_TABLE, "code": table, "display": _TABLE_NAMES[table]}]},
        "subject": reference(ctx.patient_ref),
    }
    created = t.fhir_date(row.get("NGAY_CT", ""))
    if created:
        basic["created"] = created
    t.with_claim_fields(basic, table, row, {"STT"})
    return basic


def claim_resources(tables: Mapping[str, Sequence[Record]], ctx: ImportContext) -> list[dict[str, Any]]:
    """The resources one visit's records become (the Patient aside), with their ids."""
    xml1 = dict(tables["XML1"][0])
    xml0 = dict(tables["XML0"][0]) if tables.get("XML0") else None
    diagnoses = conditions(ctx, xml1)
    out: list[dict[str, Any]] = [
        encounter(ctx, xml1, xml0, [(c["id"], i) for i, c in enumerate(diagnoses, 1)]),
        *diagnoses,
    ]
    body_weight = weight(ctx, xml1)
    if body_weight is not None:
        out.append(body_weight)
    for n, row in enumerate(tables.get("XML2", ()), 1):
        out.append(_medication(ctx, n, dict(row)))
    for n, row in enumerate(tables.get("XML3", ()), 1):
        out.append(_charge(ctx, n, dict(row)))
    for n, row in enumerate(tables.get("XML4", ()), 1):
        out.append(_result(ctx, n, dict(row)))
    for n, row in enumerate(tables.get("XML5", ()), 1):
        out.append(_progress(ctx, n, dict(row)))
    for table in ("XML7", "XML8"):
        if tables.get(table):
            out.append(_composition(ctx, table, dict(tables[table][0]), xml1))
    if tables.get("XML13"):
        out.append(_referral(ctx, dict(tables["XML13"][0]), xml1))
    if tables.get("XML14"):
        out.append(_appointment(ctx, dict(tables["XML14"][0])))
    for table in ("XML6", "XML9", "XML10", "XML11", "XML12", "XML15"):
        for n, row in enumerate(tables.get(table, ()), 1):
            out.append(_basic(ctx, table, n, dict(row)))
    return out
