"""FHIR → claim records, the lines: XML2 (drugs), XML3 (services and supplies), XML4 (results),
XML5 (clinical progress).

Spec: the claim tables (:mod:`senhealth.emr.claims.tables`); FHIR R4 MedicationRequest,
MedicationAdministration, MedicationDispense, ChargeItem, Procedure, ServiceRequest, Observation,
DiagnosticReport, ClinicalImpression (https://hl7.org/fhir/R4/). Part of the export mapping
(:mod:`senhealth.emr.claims.export_mapping`); the field-by-field table is in docs/claims.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.export_visit import (
    RESULT_CATEGORIES,
    Record,
    VisitBuilder,
    icd_codes,
    in_order,
    is_referral,
    key_of,
    live,
    merge,
)
from senhealth.mpi.names import fold_key

__all__ = ["LinesBuilder"]


class LinesBuilder(VisitBuilder):
    """The line tables of the claim (XML2–XML5)."""

    # --- XML2 ----------------------------------------------------------------------------------------

    def drug_lines(self) -> list[Record]:
        requests = [m for m in self.data.medication_requests if live(m)]
        covered = {key_of(m) for m in requests}
        administrations = [
            a
            for a in self.data.medication_administrations
            if live(a) and str((a.get("request") or {}).get("reference")) not in covered
        ]
        dispenses = [
            d
            for d in self.data.medication_dispenses
            if live(d)
            and not any(str(r.get("reference")) in covered for r in d.get("authorizingPrescription") or [])
        ]
        rows: list[Record] = []
        for m in in_order(requests, lambda r: str(r.get("authoredOn") or "")):
            rows.append(self._drug_row(m, m.get("medicationCodeableConcept"), m.get("authoredOn"), None))
        for a in in_order(administrations, lambda r: str(r.get("effectiveDateTime") or "")):
            rows.append(
                self._drug_row(
                    a,
                    a.get("medicationCodeableConcept"),
                    a.get("effectiveDateTime"),
                    a.get("effectiveDateTime"),
                )
            )
        for d in in_order(dispenses, lambda r: str(r.get("whenHandedOver") or "")):
            rows.append(
                self._drug_row(
                    d,
                    d.get("medicationCodeableConcept"),
                    d.get("whenPrepared") or d.get("whenHandedOver"),
                    d.get("whenHandedOver"),
                )
            )
        for n, row in enumerate(rows, 1):
            row["STT"] = str(n)
        return rows

    def _drug_row(self, res: dict[str, Any], medication: Any, ordered: Any, done: Any) -> Record:
        kept = t.claim_fields(res, "XML2")
        direct: Record = {}
        code = t.coding_code(medication, t.DRUG)
        direct["MA_THUOC"] = code
        direct["TEN_THUOC"] = t.concept_text(medication, t.DRUG)
        kind = res.get("resourceType")
        quantity: Mapping[str, Any] = {}
        if kind == "MedicationRequest":
            quantity = (res.get("dispenseRequest") or {}).get("quantity") or {}
            dosage = (res.get("dosageInstruction") or [{}])[0]
            direct["LIEU_DUNG"] = str(dosage.get("text") or "")
            direct["CACH_DUNG"] = str(dosage.get("patientInstruction") or "")
            direct["DUONG_DUNG"] = t.coding_code(dosage.get("route"), t.ROUTE)
            who = self.who(res.get("requester"))
        elif kind == "MedicationAdministration":
            dose = res.get("dosage") or {}
            quantity = dose.get("dose") or {}
            direct["LIEU_DUNG"] = str(dose.get("text") or "")
            direct["DUONG_DUNG"] = t.coding_code(dose.get("route"), t.ROUTE)
            who = self.who(((res.get("performer") or [{}])[0]).get("actor"))
        else:
            quantity = res.get("quantity") or {}
            dosage = (res.get("dosageInstruction") or [{}])[0]
            direct["LIEU_DUNG"] = str(dosage.get("text") or "")
            who = self.who(((res.get("performer") or [{}])[0]).get("actor"))
        direct["SO_LUONG"] = t.number_text(quantity.get("value"), 3)
        direct["DON_VI_TINH"] = str(quantity.get("unit") or quantity.get("code") or "")
        direct["NGAY_YL"] = t.claim_time(ordered)
        defaults: Record = {"MA_BAC_SI": who[0], "NGAY_TH_YL": t.claim_time(done)}
        if not code:
            defaults["MA_THUOC"] = t.coding_code(
                medication, *(c.get("system", "") for c in (medication or {}).get("coding", []))
            )
        row = merge(defaults, kept, direct)
        row["MA_LK"] = ""
        return row

    # --- XML3 ----------------------------------------------------------------------------------------

    def service_lines(self) -> list[Record]:
        charges = [c for c in self.data.charge_items if live(c)]
        billed = {str(s.get("reference")) for c in charges for s in c.get("service") or []}
        procedures = [p for p in self.data.procedures if live(p) and key_of(p) not in billed]
        done_requests = {str(b.get("reference")) for p in procedures for b in p.get("basedOn") or []} | billed
        referral = self.referral()
        requests = [
            s
            for s in self.data.service_requests
            if live(s) and key_of(s) not in done_requests and s is not referral and not is_referral(s)
        ]
        rows: list[Record] = []
        for c in in_order(charges, lambda r: str(r.get("occurrenceDateTime") or "")):
            rows.append(self._charge_row(c))
        for p in in_order(procedures, lambda r: str(r.get("performedDateTime") or "")):
            rows.append(self._procedure_row(p))
        for s in in_order(requests, lambda r: str(r.get("authoredOn") or "")):
            rows.append(self._request_row(s))
        for n, row in enumerate(rows, 1):
            row["STT"] = str(n)
        return rows

    def _charge_row(self, c: dict[str, Any]) -> Record:
        kept = t.claim_fields(c, "XML3")
        code = c.get("code") or {}
        direct: Record = {
            "MA_DICH_VU": t.coding_code(code, t.SERVICE),
            "MA_VAT_TU": t.coding_code(code, t.SUPPLY),
        }
        for coding in code.get("coding") or []:
            if coding.get("system") == t.SERVICE and coding.get("display"):
                direct["TEN_DICH_VU"] = str(coding["display"])
            if coding.get("system") == t.SUPPLY and coding.get("display"):
                direct["TEN_VAT_TU"] = str(coding["display"])
        quantity = c.get("quantity") or {}
        direct["SO_LUONG"] = t.number_text(quantity.get("value"), 3)
        direct["DON_VI_TINH"] = str(quantity.get("unit") or quantity.get("code") or "")
        price = (c.get("priceOverride") or {}).get("value")
        direct["DON_GIA_BV"] = t.number_text(price, 3)
        direct["NGAY_YL"] = t.claim_time(
            c.get("occurrenceDateTime") or (c.get("occurrencePeriod") or {}).get("start")
        )
        direct["MA_BENH"] = ";".join(icd_codes(c.get("reason") or []))
        defaults: Record = {
            "MA_BAC_SI": self.who(c.get("enterer"))[0],
            "MA_NHOM": "10" if direct["MA_VAT_TU"] and not direct["MA_DICH_VU"] else "19",
        }
        if price is not None and quantity.get("value") is not None:
            defaults["THANH_TIEN_BV"] = t.number_text(
                Decimal(str(price)) * Decimal(str(quantity["value"])), 2
            )
        if not direct["MA_DICH_VU"] and not direct["MA_VAT_TU"]:
            defaults["MA_DICH_VU"] = t.coding_code(
                code, *(x.get("system", "") for x in code.get("coding", []))
            )
            defaults["TEN_DICH_VU"] = t.concept_text(code)
        return merge(defaults, kept, direct)

    def _procedure_row(self, p: dict[str, Any]) -> Record:
        kept = t.claim_fields(p, "XML3")
        code = p.get("code") or {}
        when = p.get("performedDateTime") or (p.get("performedPeriod") or {}).get("start")
        performer = self.who(((p.get("performer") or [{}])[0]).get("actor"))
        direct: Record = {
            "MA_DICH_VU": t.coding_code(code, t.SERVICE)
            or t.coding_code(code, *(x.get("system", "") for x in code.get("coding", []))),
            "TEN_DICH_VU": t.concept_text(code, t.SERVICE),
            "MA_PTTT_QT": t.coding_code(code, t.ICD9CM),
            "NGAY_YL": t.claim_time(when),
            "NGAY_TH_YL": t.claim_time(when),
            "NGUOI_THUC_HIEN": performer[0],
            "MA_BENH": ";".join(icd_codes(p.get("reasonCode") or [])),
        }
        defaults = {"SO_LUONG": "1", "DON_VI_TINH": "Lần", "MA_NHOM": "8"}
        return merge(defaults, kept, direct)

    def _request_row(self, s: dict[str, Any]) -> Record:
        kept = t.claim_fields(s, "XML3")
        code = s.get("code") or {}
        quantity = s.get("quantityQuantity") or {}
        categories = {t.coding_code(c, t.SNOMED) for c in s.get("category") or []}
        group = "1" if "108252007" in categories else "2" if "363679005" in categories else "19"
        direct: Record = {
            "MA_DICH_VU": t.coding_code(code, t.SERVICE)
            or t.coding_code(code, *(x.get("system", "") for x in code.get("coding", []))),
            "TEN_DICH_VU": t.concept_text(code, t.SERVICE),
            "NGAY_YL": t.claim_time(s.get("authoredOn")),
            "MA_BAC_SI": self.who(s.get("requester"))[0],
            "MA_BENH": ";".join(icd_codes(s.get("reasonCode") or [])),
            "SO_LUONG": t.number_text(quantity.get("value"), 3),
        }
        defaults = {"SO_LUONG": "1", "DON_VI_TINH": str(quantity.get("unit") or "Lần"), "MA_NHOM": group}
        return merge(defaults, kept, direct)

    # --- XML4 ----------------------------------------------------------------------------------------

    def result_lines(self) -> list[Record]:
        in_reports: dict[str, dict[str, Any]] = {}
        for report in self.data.reports:
            for r in report.get("result") or []:
                in_reports[str(r.get("reference"))] = report
        rows: list[Record] = []
        observations = [
            o
            for o in self.data.observations
            if live(o)
            and (
                key_of(o) in in_reports
                or t.identifier_value(o, t.CLAIM_ROW).split("|")[2:3] == ["XML4"]
                or {
                    t.coding_code(c, "http://terminology.hl7.org/CodeSystem/observation-category")
                    for c in o.get("category") or []
                }
                & RESULT_CATEGORIES
            )
        ]
        for o in in_order(observations, lambda r: str(r.get("effectiveDateTime") or r.get("issued") or "")):
            rows.append(self._result_row(o, in_reports.get(key_of(o))))
        for report in self.data.reports:
            if not report.get("result") and report.get("conclusion") and live(report):
                rows.append(self._report_row(report))
        for n, row in enumerate(rows, 1):
            row["STT"] = str(n)
        return rows

    def _result_row(self, o: dict[str, Any], report: dict[str, Any] | None) -> Record:
        kept = t.claim_fields(o, "XML4")
        code = o.get("code") or {}
        name = t.concept_text(code, t.INDEX)
        direct: Record = {"MA_CHI_SO": t.coding_code(code, t.INDEX), "TEN_CHI_SO": name}
        if "valueQuantity" in o:
            q = o["valueQuantity"]
            direct["GIA_TRI"] = t.number_text(q.get("value"))
            direct["DON_VI_DO"] = str(q.get("unit") or q.get("code") or "")
        elif "valueString" in o:
            direct["GIA_TRI"] = str(o["valueString"])
        elif "valueCodeableConcept" in o:
            direct["GIA_TRI"] = t.concept_text(o["valueCodeableConcept"])
        direct["NGAY_KQ"] = t.claim_time(o.get("effectiveDateTime") or o.get("issued"))
        defaults: Record = {
            # "no national index code yet: the index's name, written together without diacritics" (3176)
            "MA_CHI_SO": fold_key(name).replace(" ", "").upper()[:255] if name else "",
            "MA_BS_DOC_KQ": self.who(((o.get("performer") or [{}])[0]) if o.get("performer") else None)[0],
        }
        if report is not None:
            defaults["MA_DICH_VU"] = t.coding_code(report.get("code"), t.SERVICE)
            defaults["KET_LUAN"] = str(report.get("conclusion") or "")
        interpretation = o.get("interpretation") or []
        if interpretation:
            defaults["KET_LUAN"] = t.concept_text(interpretation[0])
        return merge(defaults, kept, direct)

    def _report_row(self, report: dict[str, Any]) -> Record:
        kept = t.claim_fields(report, "XML4")
        code = report.get("code") or {}
        direct: Record = {
            "MA_DICH_VU": t.coding_code(code, t.SERVICE),
            "TEN_CHI_SO": t.concept_text(code),
            "KET_LUAN": str(report.get("conclusion") or ""),
            "NGAY_KQ": t.claim_time(report.get("issued") or report.get("effectiveDateTime")),
        }
        interpreter = (report.get("resultsInterpreter") or [None])[0]
        return merge({"MA_BS_DOC_KQ": self.who(interpreter)[0]}, kept, direct)

    # --- XML5 ----------------------------------------------------------------------------------------

    def progress_lines(self) -> list[Record]:
        rows = []
        notes = [c for c in self.data.impressions if live(c)]
        for note in in_order(notes, lambda r: str(r.get("effectiveDateTime") or r.get("date") or "")):
            kept = t.claim_fields(note, "XML5")
            direct = {
                "DIEN_BIEN_LS": str(note.get("description") or note.get("summary") or ""),
                "THOI_DIEM_DBLS": t.claim_time(note.get("effectiveDateTime") or note.get("date")),
            }
            assessor = self.who(note.get("assessor"))
            rows.append(merge({"NGUOI_THUC_HIEN": assessor[1] or assessor[0]}, kept, direct))
        for n, row in enumerate(rows, 1):
            row["STT"] = str(n)
        return rows
