"""What the printed form says around the document: the form number printed at the top right ("MS:"),
the signature blocks each form has, and the national header.

The national header is fixed text (Decree 30/2020/ND-CP on administrative documents, Appendix I: the
country's name "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and the motto "Độc lập - Tự do - Hạnh phúc" at the
top right; the issuing body above the issuer at the top left).

SOURCE / UNVERIFIED: the form numbers below are the project's numbering in the style of the Ministry's
hospital forms ("MS: 01/BV-01"); the appendices of Circular 32/2023/TT-BYT that assign the real numbers
could not be consulted when this table was written. Check them against the Circular's appendices and
correct this table (or override per installation with the setting ``form_numbers``: a mapping from
document type to the printed number) before relying on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "COUNTRY",
    "FORM_NUMBERS",
    "MOTTO",
    "SIGNATURE_ROLES",
    "SignatureRole",
    "form_number",
    "signature_roles",
]

COUNTRY: Final = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO: Final = "Độc lập - Tự do - Hạnh phúc"

#: Document type → the form number printed as "MS: ..." (unverified: see the module docstring).
FORM_NUMBERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "discharge-paper": "01/BV-01",
        "outpatient-record": "02/BV-01",
        "inpatient-summary": "03/BV-01",
        "referral-paper": "04/BV-01",
        "prescription": "05/BV-01",
        "lab-report": "06/BV-01",
        "imaging-report": "07/BV-01",
    }
)


def form_number(doc_type: str, settings: Any = None) -> str:
    """The printed form number of ``doc_type`` (``""`` when it has none); the setting ``form_numbers``
    overrides the table."""
    override = getattr(settings, "form_numbers", None) or {}
    if isinstance(override, Mapping) and doc_type in override:
        return str(override[doc_type])
    return FORM_NUMBERS.get(doc_type, "")


@dataclass(frozen=True, slots=True)
class SignatureRole:
    """One signature block of a form: the signature role (the ``role`` of ``$sign``) and the title the
    form prints above the signature."""

    role: str  # author | verifier | patient | organization
    title_vi: str
    title_en: str


_DOCTOR = SignatureRole("author", "Bác sĩ điều trị", "Attending doctor")
_HEAD = SignatureRole("verifier", "Trưởng khoa", "Head of department")
_DIRECTOR = SignatureRole("organization", "Thủ trưởng đơn vị", "Head of the facility")
_PATIENT = SignatureRole("patient", "Người bệnh / người nhà", "Patient or representative")

#: The signature blocks each form prints, left to right.
SIGNATURE_ROLES: Final[Mapping[str, tuple[SignatureRole, ...]]] = MappingProxyType(
    {
        "discharge-paper": (_HEAD, _DIRECTOR),
        "inpatient-summary": (_DOCTOR, _HEAD, _DIRECTOR),
        "referral-paper": (_DOCTOR, _DIRECTOR),
        "outpatient-record": (_PATIENT, SignatureRole("author", "Bác sĩ khám bệnh", "Examining doctor")),
        "prescription": (SignatureRole("author", "Bác sĩ kê đơn", "Prescribing doctor"),),
        "lab-report": (SignatureRole("author", "Người thực hiện", "Performed by"), _HEAD),
        "imaging-report": (SignatureRole("author", "Bác sĩ chuyên khoa", "Reporting specialist"),),
    }
)


def signature_roles(doc_type: str) -> tuple[SignatureRole, ...]:
    """The signature blocks of ``doc_type`` (one author block for a type this table does not know)."""
    return SIGNATURE_ROLES.get(doc_type, (_DOCTOR,))
