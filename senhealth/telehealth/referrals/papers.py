"""The papers of a referral: the referral paper (giấy chuyển tuyến), its claim table XML13, and the return
letter (giấy báo kết quả điều trị / tóm tắt điều trị) of the destination.

Spec: the document forms of docs/documents.md (``referral-paper``: LOINC 57133-1, Appendix 1 of Circular
14/2014 and claim table XML13; the return letter is the ``inpatient-summary`` form, LOINC 34133-9
"Summary of episode note", titled as the letter), the signatures of docs/signatures.md (``$sign``: what is
sent must carry a valid author signature, verified now: :func:`signed_document`), the claim tables of
docs/claims.md (Decision 3176/QĐ-BYT table 13, built by :mod:`senhealth.emr.claims` from the referral
ServiceRequest and the referring Encounter, and checked field by field: type, maximum size, required
fields, codes, ICD-10).

Why no new document type: the existing ``referral-paper`` form already follows the referral paper and
XML13; the return letter has no national form of its own in the sources read (Circular 14/2014 asks the
destination to inform the referring facility of the result), so it is the record-summary form with the
letter's title.

The values the author gives at the request (state at transfer, transport, escort, clinical signs, course,
results, treatment given, reason code) are kept on the ServiceRequest in the claim extension
(``claim-xml-fields``, ``XML13.<FIELD>``): the claim export and this module's XML13 read the same values
the paper prints, and ``Encounter/{id}/$claim-xml`` later gives the same table 13.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from senhealth.emr.claims import fhir_terms as claim_terms
from senhealth.emr.claims.export import encounter_data
from senhealth.emr.claims.export_mapping import ExportError, claim_tables
from senhealth.emr.claims.export_visit import is_referral
from senhealth.emr.claims.validate import FieldError, validate_table
from senhealth.emr.claims.xml_tables import write_table
from senhealth.emr.signatures import SignatureInfo, document_signatures
from senhealth.fhir.access import Restriction
from senhealth.fhir.store import FhirStore
from senhealth.telehealth.referrals.model import ReferralError

__all__ = [
    "RETURN_TITLE",
    "XML13_FROM_REQUEST",
    "Xml13",
    "paper_fields",
    "referral_xml13",
    "signed_document",
]

RETURN_TITLE: Final = "Giấy báo kết quả điều trị người bệnh chuyển tuyến (tóm tắt điều trị)"
#: Parameters of the request → the XML13 fields they fill (kept on the ServiceRequest).
XML13_FROM_REQUEST: Final = {
    "reasonCode": "MA_LYDO_CT",
    "state": "TINH_TRANG_CT",
    "transport": "PHUONGTIEN_VC",
    "escortName": "HOTEN_NGUOI_HT",
    "escortTitle": "CHUCDANH_NGUOI_HT",
    "clinicalSigns": "DAU_HIEU_LS",
    "course": "QT_BENHLY",
    "results": "TOMTAT_KQ",
    "treatment": "PP_DIEUTRI",
}
REASONS: Final = {
    "1": "Đủ điều kiện chuyển tuyến, phù hợp quy định chuyển tuyến",
    "2": "Không phù hợp với khả năng đáp ứng của cơ sở khám bệnh, chữa bệnh",
    "3": "Theo yêu cầu của người bệnh hoặc người đại diện hợp pháp",
}


@dataclass(frozen=True, slots=True)
class Xml13:
    """Table 13 of a referral: the XML and its record (field → text)."""

    content: bytes
    record: dict[str, str]


def paper_fields(request: Mapping[str, Any], destination_name: str, transfer_time: str) -> dict[str, str]:
    """The referral paper's form fields (``create_document`` ``fields``) from the ServiceRequest."""
    kept = claim_terms.claim_fields(request, "XML13")
    escort = ", ".join(x for x in (kept.get("HOTEN_NGUOI_HT", ""), kept.get("CHUCDANH_NGUOI_HT", "")) if x)
    values = {
        "clinical-signs.signs": kept.get("DAU_HIEU_LS", ""),
        "treatment.treatment": kept.get("PP_DIEUTRI", ""),
        "transfer-state.state": kept.get("TINH_TRANG_CT", ""),
        "referral-reason.reason": REASONS.get(kept.get("MA_LYDO_CT", "1"), ""),
        "referral-reason.destination": destination_name,
        "treatment-plan.plan": str(request.get("patientInstruction") or ""),
        "transport.transferTime": transfer_time,
        "transport.transport": kept.get("PHUONGTIEN_VC", ""),
        "transport.escort": escort,
    }
    return {k: v for k, v in values.items() if v}


async def signed_document(store: FhirStore, composition_id: str) -> SignatureInfo:
    """The valid author signature of ``Composition/{composition_id}``; 409 when it is not signed (yet),
    422 when its signature does not hold."""
    infos = await document_signatures(store, composition_id)
    digital = [i for i in infos if i.kind == "digital-signature" and i.role == "author"]
    if not digital:
        raise ReferralError(
            409,
            f"Composition/{composition_id} chưa được ký số: ký bằng $sign trước / is not signed: sign it with "
            "$sign first",
            "business-rule",
            "summary",
        )
    valid = [i for i in digital if i.valid]
    if not valid:
        raise ReferralError(
            422,
            f"Chữ ký không hợp lệ / the signature does not hold: {digital[0].reason}",
            "security",
            "summary",
        )
    return valid[0]


def _errors(errors: list[FieldError]) -> str:
    shown = "; ".join(e.message for e in errors[:5])
    return shown + (f" (+{len(errors) - 5})" if len(errors) > 5 else "")


async def referral_xml13(
    store: FhirStore, encounter_id: str, request_id: str, *, restriction: Restriction | None = None
) -> Xml13:
    """Table 13 of the referral ``ServiceRequest/{request_id}`` from Encounter ``encounter_id``, checked
    against the field table (422 with the faults when a field fails, or when the Encounter cannot be
    claimed: not finished, no facility code)."""
    data = await encounter_data(store, encounter_id, restriction=restriction)
    data.service_requests = [
        s for s in data.service_requests if not is_referral(s) or s.get("id") == request_id
    ]
    try:
        tables = claim_tables(data)
    except ExportError as e:
        raise ReferralError(422, f"Bảng XML13 chưa lập được / table XML13 cannot be made: {e}", "invalid",
                            e.expression) from None  # fmt: skip
    rows = tables.get("XML13") or []
    if not rows:
        raise ReferralError(422, "Không có yêu cầu chuyển tuyến / no referral in the claim", "invalid")
    content = write_table("XML13", rows)
    errors = validate_table("XML13", content)
    if errors:
        raise ReferralError(422, f"XML13: {_errors(errors)}", "invalid", errors[0].expression)
    return Xml13(content, {k: v or "" for k, v in rows[0].items()})
