"""The clinical document types: the national record forms of Circular 32/2023 as FHIR Composition types.

Spec: https://hl7.org/fhir/R4/composition.html (``Composition.type``: a LOINC document code from
http://hl7.org/fhir/ValueSet/doc-typecodes; ``Composition.section.code``: a LOINC section code from
http://hl7.org/fhir/ValueSet/doc-section-codes) and https://hl7.org/fhir/R4/documents.html.

Each :class:`DocumentType` names the LOINC document code, the Vietnamese and English titles, the
sections of the form in the order the form prints them, and per section the fields the paper form asks
for (:class:`FormField`) and where its entries come from (:class:`SectionType.source`: the encounter's
Conditions, Observations of a category, MedicationRequests, Procedures, ServiceRequests...). A section
without a LOINC code uses the project's code system :data:`SECTION_SYSTEM`.

``retention_years`` follows ``vietnam.md`` §2 (Circular 33/2025, unverified there): outpatient and
inpatient records 10 years; ``None`` would mean permanent. The retention rules read it.

SOURCE: the national forms of Circular 32/2023/TT-BYT (medical record forms) and the forms they continue:
the referral paper of Circular 14/2014/TT-BYT, Appendix 1 (confirmed from a published copy of the form,
https://hoatieu.vn/bieu-mau/giay-chuyen-vien-81910: patient, ethnicity, nationality, occupation, insurance
card and validity, where and when treated, clinical signs, paraclinical results, diagnosis, methods and
drugs used, state at transfer, reason, suggested treatment, transfer time, transport, escort); the
discharge paper and record summary of Circulars 56/2017 and 18/2022 (and the claim tables XML7 / XML8 that
carry them: ``../shared/data/claim-xml/``); the prescription of Circular 26/2025 (which replaced
52/2017 and 04/2022). The text of Circular 32/2023's appendices could not be retrieved: the other field
lists are the fields those forms are known to carry, not checked against the Circular, and ``form``
names the form, not an appendix number. LOINC 18842-5 for the discharge paper is also the code the HL7
Vietnam clinical-document guide (hl7vn/vn-clin-doc, draft) lists for discharge summaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "DOCUMENT_TYPES",
    "LOINC",
    "SECTION_SYSTEM",
    "DocumentType",
    "FormField",
    "SectionType",
    "Source",
    "document_type",
    "document_type_for_code",
]

LOINC: Final = "http://loinc.org"
SECTION_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/document-section"
DOCUMENT_TYPE_SYSTEM: Final = "https://senhealth.vn/fhir/CodeSystem/document-type"

# Where a section's entries come from (see senhealth.emr.documents.builder):
#   patient          the patient's administrative data (narrative only)
#   encounter        the encounter: times, class, facility, reason (narrative; entry: the Encounter)
#   reason           Encounter.reasonCode / reasonReference and chief-complaint Conditions
#   admission-dx     Conditions used as admission diagnosis (Encounter.diagnosis.use AD, else the first)
#   discharge-dx     Conditions used as discharge / final diagnosis (use DD or billing, else all)
#   diagnoses        every Condition of the encounter
#   history          the patient's past Conditions (not of this encounter) and AllergyIntolerances
#   allergies        the patient's AllergyIntolerances
#   vital-signs      Observations, category vital-signs
#   exam             Observations, category exam
#   laboratory       Observations and DiagnosticReports, category laboratory (LAB)
#   imaging          Observations and DiagnosticReports, category imaging (RAD) and ImagingStudy
#   medications      MedicationRequests of the encounter
#   procedures       Procedures of the encounter
#   orders           ServiceRequests of the encounter that are not referrals
#   referral         ServiceRequests of the encounter that are referrals (category 3457005, or intent
#                    order with a performer Organization outside the encounter's facility)
#   follow-up        Appointments of the patient after the encounter, and the narrative's re-visit date
#   text             narrative only: the text the author gives (``create_document(narratives=...)``)
Source = Literal[
    "patient",
    "encounter",
    "reason",
    "admission-dx",
    "discharge-dx",
    "diagnoses",
    "history",
    "allergies",
    "vital-signs",
    "exam",
    "laboratory",
    "imaging",
    "medications",
    "procedures",
    "orders",
    "referral",
    "follow-up",
    "text",
]


@dataclass(frozen=True, slots=True)
class FormField:
    """One field the paper form asks for: ``key`` (the project's name), titles, and whether the form
    cannot be complete without it."""

    key: str
    title_vi: str
    title_en: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class SectionType:
    """A section of a form: its code (LOINC where one exists, else :data:`SECTION_SYSTEM`), titles, where
    its entries come from, and the form's fields it carries."""

    key: str
    system: str
    code: str
    display: str
    title_vi: str
    title_en: str
    source: Source
    fields: tuple[FormField, ...] = ()
    required: bool = False

    def coding(self) -> dict[str, Any]:
        return {"system": self.system, "code": self.code, "display": self.display}

    @property
    def title(self) -> str:
        """The section title as printed: Vietnamese first."""
        return f"{self.title_vi} ({self.title_en})"


@dataclass(frozen=True, slots=True)
class DocumentType:
    """A clinical document type: one national form."""

    key: str
    loinc: str
    loinc_display: str
    title_vi: str
    title_en: str
    form: str  # the form's Vietnamese name in the Ministry's list
    sections: tuple[SectionType, ...]
    retention_years: int | None  # None: kept permanently
    organization_signature: bool = False  # the facility signs it too (discharge, referral, summary)
    category: str = "clinical-note"
    source: str = ""  # where the form's content comes from, and what is not confirmed

    def coding(self) -> dict[str, Any]:
        return {"system": LOINC, "code": self.loinc, "display": self.loinc_display}

    def local_coding(self) -> dict[str, Any]:
        return {"system": DOCUMENT_TYPE_SYSTEM, "code": self.key, "display": self.title_vi}

    @property
    def title(self) -> str:
        return self.title_vi

    def section(self, key: str) -> SectionType:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)


def _loinc(
    key: str,
    code: str,
    display: str,
    vi: str,
    en: str,
    source: Source,
    fields: tuple[FormField, ...] = (),
    *,
    required: bool = False,
) -> SectionType:
    return SectionType(key, LOINC, code, display, vi, en, source, fields, required)


def _local(
    key: str,
    vi: str,
    en: str,
    source: Source,
    fields: tuple[FormField, ...] = (),
    *,
    required: bool = False,
) -> SectionType:
    return SectionType(key, SECTION_SYSTEM, key, en, vi, en, source, fields, required)


F = FormField

# -- sections shared by several forms -------------------------------------------------------------------

_ADMINISTRATIVE = _local(
    "administrative",
    "Hành chính",
    "Administrative data",
    "patient",
    (
        F("name", "Họ và tên", "Full name", True),
        F("birthDate", "Ngày sinh", "Date of birth", True),
        F("gender", "Giới tính", "Sex", True),
        F("personalId", "Số định danh cá nhân / CCCD", "Personal ID", True),
        F("ethnicity", "Dân tộc", "Ethnic group"),
        F("nationality", "Quốc tịch", "Nationality"),
        F("occupation", "Nghề nghiệp", "Occupation"),
        F("address", "Địa chỉ", "Address", True),
        F("insuranceCard", "Số thẻ BHYT, giá trị đến", "Health-insurance card and validity"),
        F("relative", "Họ tên, địa chỉ người nhà khi cần báo tin", "Next of kin to notify"),
    ),
    required=True,
)


def _admin(*keys: str) -> SectionType:
    """The administrative section with only the listed fields (a shorter form header)."""
    fields = tuple(f for f in _ADMINISTRATIVE.fields if f.key in keys)
    return SectionType(
        "administrative",
        SECTION_SYSTEM,
        "administrative",
        "Administrative data",
        "Hành chính",
        "Administrative data",
        "patient",
        fields,
        True,
    )


_TREATMENT_PERIOD = _local(
    "treatment-period",
    "Thời gian điều trị",
    "Period of care",
    "encounter",
    (
        F("admissionTime", "Vào viện lúc", "Admitted at", True),
        F("dischargeTime", "Ra viện lúc", "Discharged at", True),
        F("department", "Khoa điều trị", "Department"),
        F("facility", "Cơ sở khám bệnh, chữa bệnh", "Facility", True),
    ),
    required=True,
)

_REASON = _loinc(
    "reason",
    "29299-5",
    "Reason for visit Narrative",
    "Lý do vào viện / đến khám",
    "Reason for visit",
    "reason",
    (F("reason", "Lý do", "Reason", True),),
    required=True,
)

_PRESENT_ILLNESS = _loinc(
    "present-illness",
    "10164-2",
    "History of Present illness Narrative",
    "Bệnh sử",
    "History of present illness",
    "text",
    (F("course", "Quá trình bệnh lý", "Course of the illness"),),
)

_HISTORY = _loinc(
    "history",
    "11348-0",
    "History of Past illness Narrative",
    "Tiền sử (bản thân, gia đình)",
    "Past medical and family history",
    "history",
    (
        F("personal", "Tiền sử bản thân", "Personal history"),
        F("family", "Tiền sử gia đình", "Family history"),
    ),
)

_ALLERGIES = _loinc(
    "allergies",
    "48765-2",
    "Allergies and adverse reactions Document",
    "Dị ứng",
    "Allergies and adverse reactions",
    "allergies",
    (F("allergies", "Dị ứng (thuốc, thức ăn, khác)", "Allergies (drugs, food, other)"),),
)

_VITAL_SIGNS = _loinc(
    "vital-signs",
    "8716-3",
    "Vital signs",
    "Dấu hiệu sinh tồn",
    "Vital signs",
    "vital-signs",
    (
        F("pulse", "Mạch (lần/phút)", "Pulse (/min)"),
        F("temperature", "Nhiệt độ (°C)", "Temperature (°C)"),
        F("bloodPressure", "Huyết áp (mmHg)", "Blood pressure (mmHg)"),
        F("respiratoryRate", "Nhịp thở (lần/phút)", "Respiratory rate (/min)"),
        F("weight", "Cân nặng (kg)", "Weight (kg)"),
        F("height", "Chiều cao (cm)", "Height (cm)"),
    ),
)

_EXAM = _loinc(
    "physical-exam",
    "29545-1",
    "Physical findings Narrative",
    "Khám bệnh (toàn thân, các bộ phận)",
    "Physical examination",
    "exam",
    (
        F("general", "Toàn thân", "General"),
        F("organs", "Các bộ phận", "Organ systems"),
    ),
)

_LAB_SUMMARY = _loinc(
    "results",
    "30954-2",
    "Relevant diagnostic tests/laboratory data Narrative",
    "Tóm tắt kết quả cận lâm sàng",
    "Summary of paraclinical results",
    "laboratory",
    (
        F(
            "results",
            "Kết quả xét nghiệm, chẩn đoán hình ảnh có giá trị chẩn đoán",
            "Results of diagnostic value",
        ),
    ),
)

_IMAGING_SUMMARY = _loinc(
    "imaging-results",
    "18782-3",
    "Radiology Study observation (narrative)",
    "Kết quả chẩn đoán hình ảnh",
    "Imaging results",
    "imaging",
    (F("findings", "Kết quả chẩn đoán hình ảnh", "Imaging findings"),),
)

_ADMISSION_DX = _loinc(
    "admission-diagnosis",
    "46241-6",
    "Hospital admission diagnosis Narrative - Reported",
    "Chẩn đoán ban đầu / khi vào viện",
    "Admission diagnosis",
    "admission-dx",
    (F("diagnosis", "Chẩn đoán (mã ICD-10)", "Diagnosis (ICD-10 code)"),),
)

_DISCHARGE_DX = _loinc(
    "discharge-diagnosis",
    "11535-2",
    "Hospital discharge Dx Narrative",
    "Chẩn đoán khi ra viện",
    "Discharge diagnosis",
    "discharge-dx",
    (
        F("mainDiagnosis", "Bệnh chính (mã ICD-10)", "Main diagnosis (ICD-10 code)", True),
        F("otherDiagnoses", "Bệnh kèm theo (mã ICD-10)", "Secondary diagnoses (ICD-10 codes)"),
    ),
    required=True,
)

_DIAGNOSIS = _loinc(
    "diagnosis",
    "29548-5",
    "Diagnosis Narrative",
    "Chẩn đoán",
    "Diagnosis",
    "diagnoses",
    (
        F("mainDiagnosis", "Bệnh chính (mã ICD-10)", "Main diagnosis (ICD-10 code)", True),
        F("otherDiagnoses", "Bệnh kèm theo (mã ICD-10)", "Secondary diagnoses (ICD-10 codes)"),
    ),
    required=True,
)

_PROCEDURES = _loinc(
    "procedures",
    "47519-4",
    "History of Procedures Document",
    "Thủ thuật, phẫu thuật đã thực hiện",
    "Procedures performed",
    "procedures",
    (F("procedures", "Thủ thuật, phẫu thuật (mã ICD-9-CM)", "Procedures (ICD-9-CM codes)"),),
)

_MEDICATIONS = _loinc(
    "medications",
    "10160-0",
    "History of Medication use Narrative",
    "Thuốc đã dùng",
    "Medications given",
    "medications",
    (F("drugs", "Thuốc, liều dùng, cách dùng", "Drugs, dose, usage"),),
)

_STATE_AT_DISCHARGE = _loinc(
    "discharge-state",
    "10184-0",
    "Hospital discharge physical findings Narrative",
    "Tình trạng người bệnh khi ra viện",
    "State at discharge",
    "text",
    (F("outcome", "Kết quả điều trị", "Outcome of treatment"),),
)

_NOTES = _local(
    "notes",
    "Ghi chú",
    "Notes",
    "text",
    (F("notes", "Ghi chú", "Notes"),),
)

_INSTRUCTIONS = _loinc(
    "instructions",
    "69730-0",
    "Instructions",
    "Lời dặn của thầy thuốc",
    "Instructions to the patient",
    "text",
    (F("advice", "Lời dặn", "Advice"),),
)

_FOLLOW_UP = _loinc(
    "follow-up",
    "18776-5",
    "Plan of care note",
    "Hẹn tái khám / hướng điều trị tiếp",
    "Follow-up",
    "follow-up",
    (
        F("revisitDate", "Ngày hẹn tái khám", "Re-visit date"),
        F("plan", "Hướng điều trị tiếp theo", "Further treatment plan"),
    ),
)

_ORDERS = _local(
    "orders",
    "Chỉ định cận lâm sàng",
    "Orders for investigations",
    "orders",
    (F("orders", "Yêu cầu xét nghiệm, chẩn đoán hình ảnh", "Requested tests and imaging"),),
)

# -- the seven forms ------------------------------------------------------------------------------------

OUTPATIENT_RECORD = DocumentType(
    key="outpatient-record",
    loinc="34108-1",
    loinc_display="Outpatient Note",
    title_vi="Bệnh án ngoại trú / Phiếu khám bệnh",
    title_en="Outpatient visit record",
    form="Bệnh án ngoại trú; Phiếu khám bệnh",
    sections=(
        _ADMINISTRATIVE,
        _local(
            "visit",
            "Thông tin lần khám",
            "Visit",
            "encounter",
            (
                F("visitTime", "Thời gian khám", "Time of the visit", True),
                F("facility", "Cơ sở khám bệnh, chữa bệnh", "Facility", True),
                F("department", "Phòng khám / khoa", "Clinic / department"),
            ),
            required=True,
        ),
        _REASON,
        _PRESENT_ILLNESS,
        _HISTORY,
        _ALLERGIES,
        _VITAL_SIGNS,
        _EXAM,
        _ORDERS,
        _LAB_SUMMARY,
        _IMAGING_SUMMARY,
        _DIAGNOSIS,
        _MEDICATIONS,
        _PROCEDURES,
        _INSTRUCTIONS,
        _FOLLOW_UP,
    ),
    retention_years=10,
    source="Circular 32/2023 (outpatient record form; appendix not retrieved): sections as the outpatient record and visit slip are known to carry them, unconfirmed",
)

INPATIENT_SUMMARY = DocumentType(
    key="inpatient-summary",
    loinc="34133-9",
    loinc_display="Summary of episode note",
    title_vi="Tóm tắt hồ sơ bệnh án",
    title_en="Inpatient record summary",
    form="Tóm tắt hồ sơ bệnh án",
    sections=(
        _ADMINISTRATIVE,
        _TREATMENT_PERIOD,
        _REASON,
        _loinc(
            "clinical-course",
            "8648-8",
            "Hospital course Narrative",
            "Quá trình bệnh lý và diễn biến lâm sàng",
            "Course of illness and clinical progress",
            "text",
            (F("course", "Quá trình bệnh lý và diễn biến lâm sàng", "Course and clinical progress", True),),
            required=True,
        ),
        _LAB_SUMMARY,
        _IMAGING_SUMMARY,
        _ADMISSION_DX,
        _DISCHARGE_DX,
        SectionType(
            "treatment",
            SECTION_SYSTEM,
            "treatment-method",
            "Treatment method",
            "Phương pháp điều trị",
            "Treatment method",
            "text",
            (F("method", "Phương pháp điều trị", "Treatment method", True),),
            True,
        ),
        _MEDICATIONS,
        _PROCEDURES,
        _STATE_AT_DISCHARGE,
        _NOTES,
    ),
    retention_years=10,
    organization_signature=True,
    source="Record summary form (Circulars 56/2017, 18/2022; claim table XML8 QT_BENHLY, TOMTAT_KQ, PP_DIEUTRI, KET_QUA_DTRI); Circular 32/2023 text not retrieved",
)

DISCHARGE_PAPER = DocumentType(
    key="discharge-paper",
    loinc="18842-5",
    loinc_display="Discharge summary",
    title_vi="Giấy ra viện",
    title_en="Discharge paper",
    form="Giấy ra viện",
    sections=(
        _ADMINISTRATIVE,
        _TREATMENT_PERIOD,
        _DISCHARGE_DX,
        _PROCEDURES,
        SectionType(
            "treatment",
            SECTION_SYSTEM,
            "treatment-method",
            "Treatment method",
            "Phương pháp điều trị",
            "Treatment method",
            "text",
            (F("method", "Phương pháp điều trị", "Treatment method", True),),
            True,
        ),
        _NOTES,
        _INSTRUCTIONS,
        _FOLLOW_UP,
    ),
    retention_years=10,
    organization_signature=True,
    source="Discharge paper form (Circulars 56/2017, 18/2022; claim table XML7 NGAY_VAO, NGAY_RA, CHAN_DOAN_RV, PP_DIEUTRI, GHI_CHU); Circular 32/2023 text not retrieved",
)

REFERRAL_PAPER = DocumentType(
    key="referral-paper",
    loinc="57133-1",
    loinc_display="Referral note",
    title_vi="Giấy chuyển tuyến / chuyển cơ sở khám bệnh, chữa bệnh",
    title_en="Referral paper",
    form="Giấy chuyển tuyến (chuyển người bệnh giữa các cơ sở khám bệnh, chữa bệnh)",
    sections=(
        _ADMINISTRATIVE,
        _TREATMENT_PERIOD,
        _loinc(
            "clinical-signs",
            "29545-1",
            "Physical findings Narrative",
            "Dấu hiệu lâm sàng",
            "Clinical signs",
            "exam",
            (F("signs", "Dấu hiệu lâm sàng", "Clinical signs"),),
        ),
        _LAB_SUMMARY,
        _DIAGNOSIS,
        SectionType(
            "treatment",
            SECTION_SYSTEM,
            "treatment-given",
            "Treatment given",
            "Phương pháp, thủ thuật, kỹ thuật, thuốc đã sử dụng trong điều trị",
            "Methods, procedures, techniques and drugs used",
            "medications",
            (F("treatment", "Điều trị đã thực hiện", "Treatment given", True),),
            True,
        ),
        _PROCEDURES,
        _local(
            "transfer-state",
            "Tình trạng người bệnh lúc chuyển tuyến",
            "State of the patient at transfer",
            "text",
            (F("state", "Tình trạng lúc chuyển", "State at transfer", True),),
            required=True,
        ),
        _loinc(
            "referral-reason",
            "42349-1",
            "Reason for referral (narrative)",
            "Lý do chuyển tuyến",
            "Reason for referral",
            "referral",
            (
                F("reason", "Lý do chuyển (đủ điều kiện chuyển / theo yêu cầu người bệnh)", "Reason", True),
                F("destination", "Nơi chuyển đến", "Destination facility", True),
            ),
            required=True,
        ),
        _local(
            "treatment-plan",
            "Hướng điều trị",
            "Suggested treatment",
            "text",
            (F("plan", "Hướng điều trị", "Suggested treatment"),),
        ),
        _local(
            "transport",
            "Chuyển tuyến: thời gian, phương tiện, người hộ tống",
            "Transfer: time, transport, escort",
            "text",
            (
                F("transferTime", "Chuyển tuyến hồi (giờ, ngày)", "Transfer time", True),
                F("transport", "Phương tiện vận chuyển", "Means of transport"),
                F("escort", "Họ tên, chức danh, trình độ chuyên môn người hộ tống", "Escort"),
            ),
        ),
    ),
    retention_years=10,
    organization_signature=True,
    source="Referral paper, Appendix 1 of Circular 14/2014 (published copy checked) and claim table XML13 (DAU_HIEU_LS, TOMTAT_KQ, PP_DIEUTRI, MA_LYDO_CT, HUONG_DIEU_TRI, PHUONGTIEN_VC, HOTEN_NGUOI_HT)",
)

PRESCRIPTION = DocumentType(
    key="prescription",
    loinc="57833-6",
    loinc_display="Prescription for medication",
    title_vi="Đơn thuốc",
    title_en="Prescription",
    form="Đơn thuốc",
    sections=(
        _admin("name", "birthDate", "gender", "personalId", "address", "insuranceCard"),
        _local(
            "prescription-info",
            "Thông tin đơn thuốc",
            "Prescription details",
            "encounter",
            (
                F("prescriptionCode", "Mã đơn thuốc", "Prescription code", True),
                F("facility", "Cơ sở khám bệnh, chữa bệnh", "Facility", True),
                F("prescriber", "Bác sĩ kê đơn", "Prescriber", True),
                F("date", "Ngày kê đơn", "Date of prescription", True),
                F("weight", "Cân nặng (trẻ dưới 72 tháng)", "Weight (children under 72 months)"),
                F("guardian", "Họ tên bố hoặc mẹ (trẻ dưới 72 tháng)", "Parent (children under 72 months)"),
            ),
            required=True,
        ),
        _DIAGNOSIS,
        _loinc(
            "medications",
            "57828-6",
            "Prescription list",
            "Thuốc điều trị",
            "Prescribed drugs",
            "medications",
            (
                F("drug", "Tên thuốc, hàm lượng", "Drug and strength", True),
                F("quantity", "Số lượng, đơn vị", "Quantity and unit", True),
                F("usage", "Cách dùng (liều, đường dùng, thời điểm)", "Usage (dose, route, timing)", True),
            ),
            required=True,
        ),
        _INSTRUCTIONS,
        _FOLLOW_UP,
    ),
    retention_years=10,
    source="Prescription of Circular 26/2025 (text not retrieved) and the national prescription system fields (Decision 808/QĐ-BYT, as its clients use them): unconfirmed",
)

LAB_REPORT = DocumentType(
    key="lab-report",
    loinc="11502-2",
    loinc_display="Laboratory report",
    title_vi="Phiếu kết quả xét nghiệm",
    title_en="Laboratory report",
    form="Phiếu xét nghiệm",
    sections=(
        _admin("name", "birthDate", "gender", "personalId", "address", "insuranceCard"),
        _local(
            "request",
            "Yêu cầu xét nghiệm",
            "Test request",
            "orders",
            (
                F("requester", "Bác sĩ chỉ định", "Ordering doctor"),
                F("specimen", "Bệnh phẩm, thời gian lấy mẫu", "Specimen and collection time"),
            ),
        ),
        _DIAGNOSIS,
        _loinc(
            "results",
            "30954-2",
            "Relevant diagnostic tests/laboratory data Narrative",
            "Kết quả xét nghiệm",
            "Results",
            "laboratory",
            (
                F("test", "Tên xét nghiệm", "Test", True),
                F("value", "Kết quả", "Result", True),
                F("reference", "Trị số bình thường", "Reference range"),
                F("unit", "Đơn vị", "Unit"),
            ),
            required=True,
        ),
        _local(
            "conclusion",
            "Nhận xét / kết luận",
            "Comments / conclusion",
            "text",
            (F("conclusion", "Kết luận", "Conclusion"),),
        ),
    ),
    retention_years=10,
    source="Laboratory result slip as hospitals print it; Circular 32/2023 text not retrieved: unconfirmed",
)

IMAGING_REPORT = DocumentType(
    key="imaging-report",
    loinc="18748-4",
    loinc_display="Diagnostic imaging study",
    title_vi="Phiếu kết quả chẩn đoán hình ảnh",
    title_en="Diagnostic imaging report",
    form="Phiếu chiếu/chụp X-quang, siêu âm, CT, MRI (kết quả chẩn đoán hình ảnh)",
    sections=(
        _admin("name", "birthDate", "gender", "personalId", "address", "insuranceCard"),
        _loinc(
            "request",
            "55115-0",
            "Requested imaging studies information Document",
            "Yêu cầu kiểm tra",
            "Examination requested",
            "orders",
            (F("request", "Yêu cầu chiếu/chụp", "Requested examination"),),
        ),
        _DIAGNOSIS,
        _loinc(
            "findings",
            "18782-3",
            "Radiology Study observation (narrative)",
            "Kết quả (mô tả)",
            "Findings",
            "imaging",
            (F("findings", "Mô tả", "Description", True),),
            required=True,
        ),
        _loinc(
            "impression",
            "19005-8",
            "Radiology Impression (narrative)",
            "Kết luận",
            "Impression",
            "text",
            (F("conclusion", "Kết luận", "Conclusion", True),),
        ),
        _local(
            "advice",
            "Lời dặn / đề nghị",
            "Recommendations",
            "text",
            (F("advice", "Đề nghị", "Recommendation"),),
        ),
    ),
    retention_years=10,
    source="Imaging result slip (X-ray, ultrasound, CT, MRI) as hospitals print it; Circular 32/2023 text not retrieved: unconfirmed",
)

DOCUMENT_TYPES: Final[Mapping[str, DocumentType]] = MappingProxyType(
    {
        t.key: t
        for t in (
            OUTPATIENT_RECORD,
            INPATIENT_SUMMARY,
            DISCHARGE_PAPER,
            REFERRAL_PAPER,
            PRESCRIPTION,
            LAB_REPORT,
            IMAGING_REPORT,
        )
    }
)


def document_type(key: str) -> DocumentType:
    """The document type ``key`` (``KeyError`` naming the known ones when there is none)."""
    found = DOCUMENT_TYPES.get(key)
    if found is None:
        raise KeyError(f"unknown document type {key!r}; known: {', '.join(DOCUMENT_TYPES)}")
    return found


def document_type_for_code(type_concept: Mapping[str, Any] | None) -> DocumentType | None:
    """The document type a ``Composition.type`` CodeableConcept names (local code first, then LOINC)."""
    if not isinstance(type_concept, Mapping):
        return None
    codings = [c for c in type_concept.get("coding") or [] if isinstance(c, Mapping)]
    for c in codings:
        if c.get("system") == DOCUMENT_TYPE_SYSTEM and c.get("code") in DOCUMENT_TYPES:
            return DOCUMENT_TYPES[str(c["code"])]
    for c in codings:
        if c.get("system") == LOINC:
            for t in DOCUMENT_TYPES.values():
                if t.loinc == c.get("code"):
                    return t
    return None
