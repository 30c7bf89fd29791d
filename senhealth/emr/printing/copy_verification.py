"""What the public verification page says about one printed copy, looked up by its code.

Spec: e-Transactions Law 2023 Art. 12 and Decree 137/2024 (a paper copy converted from an electronic
record can be checked against the original through its look-up code), vietnam.md §2; personal data on a
public page kept to the minimum (Decree 13/2023/ND-CP on personal data protection: only what the purpose
needs).

Shown (:class:`CopyVerification`): the document type and title, the facility, the document's date, the
patient as initials and year of birth, when the copy was printed, the SHA-256 of the PDF handed out
(a reader with the file can compare), each signature on the document verified now (signer, role, time,
valid or not and why: :func:`senhealth.emr.signatures.verification.document_signatures`), whether the
document has since been corrected (replaced by a newer signed version), withdrawn (entered in error) or
destroyed at the end of its retention. Never shown: any clinical content, the patient's name or identifiers, who printed.

Anyone may look a code up; a code is 60 random bits (:mod:`.lookup_code`), so codes cannot be guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from senhealth.emr.documents.types import DOCUMENT_TYPES
from senhealth.emr.pki.errors import PkiError
from senhealth.emr.printing.lookup_code import display_code, normalise_code
from senhealth.emr.printing.print_log import find_print
from senhealth.emr.signatures.amendment import document_chain
from senhealth.emr.signatures.model import ROLES
from senhealth.emr.signatures.services import PkiServices, configured_services
from senhealth.emr.signatures.verification import document_signatures
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = ["CopyState", "CopyVerification", "SignatureLine", "verify_copy"]

CopyState = Literal["current", "replaced", "entered-in-error", "deleted", "purged"]


@dataclass(frozen=True, slots=True)
class SignatureLine:
    role: str
    role_vi: str
    role_en: str
    signer: str
    when: datetime | None
    valid: bool
    reason: str
    reason_vi: str
    kind: str  # digital-signature | confirmation


@dataclass(frozen=True, slots=True)
class Replacement:
    composition: str  # "Composition/<id>" (not shown: the correction is looked up at the facility)
    date: str | None


@dataclass(frozen=True, slots=True)
class CopyVerification:
    code: str
    display_code: str
    doc_type: str
    title_vi: str
    title_en: str
    facility: str
    document_date: datetime | None
    patient_initials: str
    birth_year: int | None
    printed_at: datetime
    pdf_sha256: str  # hex
    pdf_pages: int
    state: CopyState
    signatures: tuple[SignatureLine, ...] = ()
    replaced_by: tuple[Replacement, ...] = ()
    purged_at: datetime | None = None
    signatures_unavailable: bool = False  # the trust roots could not be read: signatures not checked
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def all_valid(self) -> bool:
        return bool(self.signatures) and all(
            s.valid for s in self.signatures if s.kind == "digital-signature"
        )


def _line(info: Any) -> SignatureLine:
    spec = ROLES.get(info.role)
    return SignatureLine(
        role=info.role,
        role_vi=spec.title_vi if spec else info.role,
        role_en=spec.title_en if spec else info.role,
        signer=info.signer,
        when=info.timestamp or info.signed_at,
        valid=bool(info.valid),
        reason=info.reason,
        reason_vi=info.reason_vi,
        kind=info.kind,
    )


async def verify_copy(
    store: FhirStore, code: str, *, services: PkiServices | None = None
) -> CopyVerification | None:
    """The verification of the printed copy ``code`` (any spelling :func:`normalise_code` accepts), or
    None when no copy has that code."""
    normal = normalise_code(code)
    if normal is None:
        return None
    async with store.pool.connection() as conn:
        record = await find_print(conn, normal)
    if record is None:
        return None
    dtype = DOCUMENT_TYPES.get(record.doc_type)
    state: CopyState = "current"
    signatures: tuple[SignatureLine, ...] = ()
    replaced: tuple[Replacement, ...] = ()
    unavailable = False
    if record.purged_at is not None:
        state = "purged"
    else:
        try:
            current = await store.read("Composition", record.composition)
        except (NotFound, Gone):
            current = None
        if current is None or current.content is None:
            state = "deleted"
        else:
            if current.content.get("status") == "entered-in-error":
                state = "entered-in-error"
            try:
                chain = await document_chain(store, record.composition, verify=False)
            except OperationError:
                chain = []
            for link in chain:
                if link.composition == f"Composition/{record.composition}" and link.replaced_by:
                    dates = {x.composition: x.date for x in chain}
                    replaced = tuple(Replacement(r, dates.get(r)) for r in link.replaced_by)
                    if state == "current":
                        state = "replaced"
            try:
                pki = services or configured_services()
                signatures = tuple(
                    _line(s) for s in await document_signatures(store, record.composition, services=pki)
                )
            except PkiError:
                unavailable = True
    return CopyVerification(
        code=record.code,
        display_code=display_code(record.code),
        doc_type=record.doc_type,
        title_vi=dtype.title_vi if dtype else record.title,
        title_en=dtype.title_en if dtype else "",
        facility=record.facility_name,
        document_date=record.document_date,
        patient_initials=record.patient_initials,
        birth_year=record.birth_year,
        printed_at=record.printed_at,
        pdf_sha256=record.pdf_sha256.hex(),
        pdf_pages=record.pdf_pages,
        state=state,
        signatures=signatures,
        replaced_by=replaced,
        purged_at=record.purged_at,
        signatures_unavailable=unavailable,
    )
