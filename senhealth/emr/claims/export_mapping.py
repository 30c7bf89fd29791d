"""FHIR resources → claim records: an Encounter and what belongs to it, as the claim tables.

Spec: the claim tables (:mod:`senhealth.emr.claims.tables`) and FHIR R4 (https://hl7.org/fhir/R4/).
The field-by-field table is in docs/claims.md. Each table's record is built in three layers, the later
winning: **defaults** derived by rule (``SO_NGAY_DTRI`` from the dates, ``NAM_QT`` from the end, totals
summed from the lines), then the fields kept in the claim extension of the resource (what an import did
not place in FHIR elements), then the **direct** values of FHIR elements (the period, the diagnoses,
the quantities...). Tables with nothing to say are left out; XML1 is always there.

- XML1, XML0: the Encounter, its Patient, the facility (``serviceProvider``'s identifier), diagnoses;
- XML2: MedicationRequest, else MedicationAdministration, else MedicationDispense (a request fulfilled by
  an administration or a dispense is counted once, as the request);
- XML3: ChargeItem; Procedure and ServiceRequest (not referrals) no ChargeItem already bills;
- XML4: laboratory / imaging / procedure Observations and those a DiagnosticReport holds; a report with a
  conclusion and no result becomes a row of its own;
- XML5: ClinicalImpression; XML7: the discharge summary Composition (LOINC 18842-5), or the Encounter of
  a finished inpatient stay; XML8: the episode summary Composition (34133-9), or a finished inpatient
  stay (``MA_LOAI_KCB`` 03, 04, 06); XML13: a referral ServiceRequest (SNOMED CT 3457005);
  XML14: the Appointment whose ``supportingInformation`` is the Encounter; XML6, XML9–12, XML15: Basic.

The builder is layered: :class:`~senhealth.emr.claims.export_visit.VisitBuilder` (XML1, XML0),
:class:`~senhealth.emr.claims.export_lines.LinesBuilder` (XML2–XML5), :class:`ClaimBuilder` here (the
papers) and :func:`claim_tables`.
"""

from __future__ import annotations

from typing import Any

from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims import tables
from senhealth.emr.claims.export_lines import LinesBuilder
from senhealth.emr.claims.export_visit import (
    INPATIENT,
    SUMMARY_KINDS,
    EncounterData,
    ExportError,
    Record,
    div_text,
    facility_of,
    icd_codes,
    in_order,
    is_practitioner,
    merge,
)
from senhealth.emr.claims.import_mapping import SECTIONS

__all__ = ["ClaimBuilder", "EncounterData", "ExportError", "claim_tables"]


class ClaimBuilder(LinesBuilder):
    """The papers of the claim (XML7, XML8, XML13, XML14), on top of the visit and its lines."""

    # --- XML7, XML8 ----------------------------------------------------------------------------------

    def composition(self, loinc: str) -> dict[str, Any] | None:
        found = [
            c
            for c in self.data.compositions
            if t.coding_code(c.get("type"), t.LOINC) == loinc
            and c.get("status") in ("final", "amended", "preliminary")
        ]
        return max(found, key=lambda c: str(c.get("date") or "")) if found else None

    def paper(self, table: str, x1: Record, results: list[Record]) -> Record | None:
        loinc = t.DISCHARGE_SUMMARY[0] if table == "XML7" else t.EPISODE_SUMMARY[0]
        comp = self.composition(loinc)
        kind = x1.get("MA_LOAI_KCB", "")
        wanted = kind in (INPATIENT if table == "XML7" else SUMMARY_KINDS)
        if comp is None and not wanted:
            return None
        defaults: Record = {
            "NGAY_VAO": x1.get("NGAY_VAO", ""),
            "NGAY_RA": x1.get("NGAY_RA", ""),
            "CHAN_DOAN_RV": x1.get("CHAN_DOAN_RV", ""),
            "NGAY_CT": x1.get("NGAY_RA", "")[:8],
            "MA_TTDV": x1.get("MA_TTDV", ""),
        }
        if table == "XML7":
            defaults.update(
                {
                    "MA_YTE": x1.get("MA_BN", ""),
                    "SO_LUU_TRU": x1.get("MA_HSBA", ""),
                    "PP_DIEUTRI": x1.get("PP_DIEU_TRI", ""),
                }
            )
            attender = next(
                (p.get("individual") for p in self.enc.get("participant") or [] if p.get("individual")), None
            )
            code, name = self.who(attender)
            defaults["MA_BS"], defaults["TEN_BS"] = code, name
        else:
            defaults.update(
                {
                    "MA_LOAI_KCB": kind,
                    "CHAN_DOAN_VAO": x1.get("CHAN_DOAN_VAO", ""),
                    "KET_QUA_DTRI": x1.get("KET_QUA_DTRI", ""),
                    "PP_DIEUTRI": x1.get("PP_DIEU_TRI", ""),
                    "TOMTAT_KQ": "; ".join(
                        f"{r.get('TEN_CHI_SO', '')}: {r.get('GIA_TRI', '')} {r.get('DON_VI_DO', '')}".strip()
                        for r in results
                        if r.get("GIA_TRI")
                    )[:4000],
                }
            )
        kept: Record = {}
        direct: Record = {}
        if comp is not None:
            kept = t.claim_fields(comp, table)
            for section in comp.get("section") or []:
                name = t.coding_code(section.get("code"), t.CLAIM_FIELD)
                if name in dict(SECTIONS[table]):
                    direct[name] = div_text(str((section.get("text") or {}).get("div") or ""))
            direct["NGAY_CT"] = t.claim_time(comp.get("date"), with_time=False)
            author = (comp.get("author") or [None])[0]
            if table == "XML7" and author is not None and is_practitioner(author):
                code, name = self.who(author)
                direct["MA_BS"], direct["TEN_BS"] = code, name
        direct["MA_LK"] = x1["MA_LK"]
        return merge(defaults, kept, direct)

    def xml13(self, x1: Record, lines2: list[Record], lines3: list[Record]) -> Record | None:
        referral = self.referral()
        if referral is None:
            return None
        kept = t.claim_fields(referral, "XML13")
        defaults: Record = {
            k: x1.get(k, "")
            for k in (
                "HO_TEN",
                "NGAY_SINH",
                "GIOI_TINH",
                "MA_QUOCTICH",
                "MA_DANTOC",
                "MA_NGHE_NGHIEP",
                "DIA_CHI",
                "MA_THE_BHYT",
                "GT_THE_DEN",
                "NGAY_VAO",
                "NGAY_VAO_NOI_TRU",
                "NGAY_RA",
                "CHAN_DOAN_RV",
                "MA_BENH_CHINH",
                "MA_BENH_KT",
                "MA_BENH_YHCT",
                "MA_TTDV",
            )
        }
        defaults["MA_CSKCB_DI"] = x1.get("MA_NOI_DI", "")
        defaults["MA_LOAI_RV"] = x1["MA_LOAI_RV"] if x1.get("MA_LOAI_RV") in ("2", "5") else "2"
        defaults["MA_LYDO_CT"] = "1"
        defaults["SO_HOSO"] = str(referral.get("id", ""))[:50]
        defaults["TEN_DICH_VU"] = "; ".join(r["TEN_DICH_VU"] for r in lines3 if r.get("TEN_DICH_VU"))[:1024]
        defaults["TEN_THUOC"] = "; ".join(r["TEN_THUOC"] for r in lines2 if r.get("TEN_THUOC"))[:1024]
        codes = icd_codes(referral.get("reasonCode") or [])
        direct: Record = {
            "MA_LK": x1["MA_LK"],
            "MA_CSKCB": self.facility,
            "SO_HOSO": t.identifier_value(referral, t.DOCUMENT_NUMBER),
            "MA_CSKCB_DEN": facility_of(referral.get("performer") or []),
            "HUONG_DIEU_TRI": str(referral.get("patientInstruction") or ""),
            "MA_BAC_SI": self.who(referral.get("requester"))[0],
        }
        if codes:
            direct["MA_BENH_CHINH"] = codes[0]
            direct["MA_BENH_KT"] = ";".join(codes[1:13])
        return merge(defaults, kept, direct)

    def xml14(self, x1: Record) -> Record | None:
        revisits = self.revisits()
        if not revisits:
            return None
        appointment = min(revisits, key=lambda a: str(a.get("start") or ""))
        kept = t.claim_fields(appointment, "XML14")
        defaults: Record = {
            k: x1.get(k, "")
            for k in (
                "HO_TEN",
                "NGAY_SINH",
                "GIOI_TINH",
                "DIA_CHI",
                "MA_THE_BHYT",
                "GT_THE_DEN",
                "NGAY_VAO",
                "NGAY_VAO_NOI_TRU",
                "NGAY_RA",
                "CHAN_DOAN_RV",
                "MA_BENH_CHINH",
                "MA_BENH_KT",
                "MA_BENH_YHCT",
                "MA_DOITUONG_KCB",
                "MA_TTDV",
            )
        }
        defaults["SO_GIAYHEN_KL"] = str(appointment.get("id", ""))[:50]
        defaults["NGAY_CT"] = x1.get("NGAY_RA", "")[:8]
        doctors = [self.who(p.get("actor"))[0] for p in appointment.get("participant") or []]
        defaults["MA_BAC_SI"] = next((d for d in doctors if d), "")
        direct: Record = {
            "MA_LK": x1["MA_LK"],
            "MA_CSKCB": self.facility,
            "SO_GIAYHEN_KL": t.identifier_value(appointment, t.DOCUMENT_NUMBER),
            "NGAY_HEN_KL": t.claim_time(appointment.get("start"), with_time=False),
            "NGAY_CT": t.claim_time(appointment.get("created"), with_time=False),
        }
        codes = icd_codes(appointment.get("reasonCode") or [])
        if codes:
            direct["MA_BENH_CHINH"] = codes[0]
        return merge(defaults, kept, direct)


def claim_tables(data: EncounterData) -> dict[str, list[Record]]:
    """The claim records of one Encounter: table → records (XML1 always; empty tables left out).

    Raises :class:`ExportError` when the Encounter cannot be claimed (not finished, no facility code).
    """
    b = ClaimBuilder(data)
    lines2 = b.drug_lines()
    lines3 = b.service_lines()
    x1 = b.xml1(lines2, lines3)
    ma_lk = x1["MA_LK"]
    results = b.result_lines()
    progress = b.progress_lines()
    for rows in (lines2, lines3, results, progress):
        for row in rows:
            row["MA_LK"] = ma_lk
    out: dict[str, list[Record]] = {"XML0": [b.xml0(x1, lines2, lines3)], "XML1": [x1]}
    if lines2:
        out["XML2"] = lines2
    if lines3:
        out["XML3"] = lines3
    if results:
        out["XML4"] = results
    if progress:
        out["XML5"] = progress
    for table in ("XML7", "XML8"):
        paper = b.paper(table, x1, results)
        if paper is not None:
            out[table] = [paper]
    referral = b.xml13(x1, lines2, lines3)
    if referral is not None:
        out["XML13"] = [referral]
    revisit = b.xml14(x1)
    if revisit is not None:
        out["XML14"] = [revisit]
    basics: dict[str, list[dict[str, Any]]] = {}
    for basic in data.basics:
        table = t.coding_code(basic.get("code"), t.CLAIM_TABLE)
        if table:
            basics.setdefault(table, []).append(basic)
    for table in sorted(basics, key=lambda n: int(n[3:])):
        rows = []
        spec = tables.table(table)
        for n, basic in enumerate(in_order(basics[table], lambda r: ""), 1):
            row = t.claim_fields(basic, table)
            if spec.field("MA_LK") is not None:
                row["MA_LK"] = ma_lk
            if spec.field("STT") is not None:
                row["STT"] = str(n)
            rows.append(row)
        if rows:
            out[table] = rows
    order = {f"XML{n}": n for n in range(16)}
    return dict(sorted(out.items(), key=lambda kv: order[kv[0]]))
