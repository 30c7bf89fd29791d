"""``Composition/[id]/$pdf``: the document as a signed PDF in the Ministry's layout, or a printed copy.

Spec: https://hl7.org/fhir/R4/operations.html (an instance operation; GET allowed: it changes no
resource), https://hl7.org/fhir/R4/documents.html (the document it renders: ``Composition/$document``,
:func:`senhealth.emr.documents.document.build_document_bundle`); the PDF: :mod:`.render` (layout),
:mod:`.pades` (PAdES B-T / B-LT signature with the certificate of one of the document's own signatures,
:mod:`.signing_key_choice`); the printed copy: e-Transactions Law Art. 12, Decree 137/2024
(vietnam.md §2).

Parameters (query string for GET, ``Parameters`` for POST):

- ``print`` (boolean, default false): ``true`` makes a **printed copy**: every page carries the
  conversion marking "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử", the system and its owner, a new
  look-up code and its QR code (the URL of the public verification page ``/verify/{code}``), the time
  and the person who printed. The print is logged (``emr_print``) and audited in one transaction, after
  the PDF is made: a print that failed leaves no row, a PDF handed out always has one. The answer
  carries the code in the header ``X-Lookup-Code``.
- without it: the electronic copy (marked "digitally signed"), not logged beyond the REST audit.

Answers: ``application/pdf`` (inline); 404 / 410 for an unknown or deleted Composition (or one outside
the caller's access), 409 when the document has no valid digital signature whose key this server holds
(sign it first: ``$sign``), 503 when the timestamp authority cannot be reached.

Settings read (``getattr``, with defaults): ``public_url`` (the verification page's base URL; else
``issuer_url``; else the request's base), ``timezone``, ``form_numbers`` (:mod:`.forms`),
``pdf_long_term_validation`` (default true: PAdES B-LT, falling back to B-T when the revocation data
cannot be fetched).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.emr.documents.document import build_document_bundle
from senhealth.emr.pki.errors import PkiError
from senhealth.emr.printing.layout import SignatureMark, document_view, human_name, resolve
from senhealth.emr.printing.lookup_code import new_code
from senhealth.emr.printing.pades import PadesError, sign_pdf
from senhealth.emr.printing.print_log import PrintRecord, initials, record_print
from senhealth.emr.printing.qr_code import verification_url
from senhealth.emr.printing.render import PrintMark, render_pdf
from senhealth.emr.printing.signing_key_choice import choose_signing_key
from senhealth.emr.signatures.model import SignatureInfo
from senhealth.emr.signatures.services import pki_services
from senhealth.emr.signatures.verification import document_signatures
from senhealth.fhir.access import Principal
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import FhirStore, Gone, NotFound

__all__ = [
    "DEFINITION",
    "PersonName",
    "make_pdf",
    "register_printing_operations",
    "signature_marks",
    "unregister_printing_operations",
]

log = logging.getLogger(__name__)

DEFINITION: Final = "https://senhealth.vn/fhir/OperationDefinition/Composition-pdf"
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})

#: Finds the display name of the person printing (the platform wires the account directory in).
PersonName = Callable[[Principal], Awaitable[str | None]]


def _flag(call: OperationCall, name: str) -> bool:
    value = call.first(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise OperationError(400, f"Parameter {name!r} must be true or false", "invalid", name)


def signature_marks(signatures: list[SignatureInfo]) -> list[SignatureMark]:
    """The document's signatures as the form prints them."""
    out = []
    for s in signatures:
        method = "digital" if s.kind == "digital-signature" else (s.method or "otp")
        reason = s.reason_vi if not s.valid else ""
        out.append(SignatureMark(s.role, s.signer, s.timestamp or s.signed_at, s.valid, reason, method,
                                 s.certificate_subject or ""))  # fmt: skip
    return out


async def _person_name(store: FhirStore, principal: Principal | None, lookup: PersonName | None) -> str:
    if principal is None:
        return "—"
    if lookup is not None:
        found = await lookup(principal)
        if found:
            return found
    if principal.practitioner and principal.practitioner.startswith("Practitioner/"):
        try:
            stored = await store.read("Practitioner", principal.practitioner.split("/", 1)[1])
            name = human_name(stored.content)
            if name:
                return name
        except (NotFound, Gone):
            pass
    claims: Mapping[str, Any] = principal.claims or {}
    for key in ("name", "preferred_username", "username"):
        if isinstance(claims.get(key), str) and claims[key]:
            return str(claims[key])
    return principal.subject


async def _authority(store: FhirStore, bundle: Mapping[str, Any]) -> str:
    """The name of the body the custodian is part of ("Sở Y tế ..."), read when the Bundle lacks it."""
    comp = bundle["entry"][0]["resource"]
    custodian = resolve(bundle, comp.get("custodian")) or {}
    parent = (custodian.get("partOf") or {}) if isinstance(custodian, Mapping) else {}
    ref = parent.get("reference") if isinstance(parent, Mapping) else None
    if isinstance(ref, str) and ref.startswith("Organization/"):
        try:
            return human_name((await store.read("Organization", ref.split("/")[1])).content)
        except (NotFound, Gone):
            return ""
    return str(parent.get("display") or "") if isinstance(parent, Mapping) else ""


def _public_base(settings: Any, call: OperationCall) -> str:
    base = getattr(settings, "public_url", None) or getattr(settings, "issuer_url", None)
    if base:
        return str(base).rstrip("/")
    fhir_base = call.base_url.rstrip("/")
    return fhir_base[: -len("/fhir")] if fhir_base.endswith("/fhir") else fhir_base


def _birth_year(patient: Mapping[str, Any] | None) -> int | None:
    value = (patient or {}).get("birthDate")
    return int(value[:4]) if isinstance(value, str) and value[:4].isdigit() else None


async def make_pdf(
    call: OperationCall, settings: Any, *, printed: bool, person_name: PersonName | None = None
) -> OperationResult:
    """The work of ``$pdf`` (see the module docstring)."""
    assert call.resource_id is not None
    zone = str(getattr(settings, "timezone", "Asia/Ho_Chi_Minh"))
    bundle = await build_document_bundle(
        call.store, call.resource_id, base_url=call.base_url, restriction=call.restriction
    )
    comp = bundle["entry"][0]["resource"]
    try:
        services = pki_services(settings)
    except PkiError as e:
        raise OperationError(409, str(e), "business-rule") from None
    signatures = await document_signatures(call.store, call.resource_id, services=services)
    chosen = await asyncio.to_thread(choose_signing_key, settings, signatures)
    if chosen is None:
        raise OperationError(
            409,
            f"Composition/{call.resource_id}: chưa có chữ ký số hợp lệ mà máy chủ giữ khóa / the document has no "
            "valid digital signature whose key this server holds: sign it first (Composition/[id]/$sign)",
            "business-rule",
        )
    key, signer = chosen
    view = document_view(
        bundle, signatures=signature_marks(signatures), authority=await _authority(call.store, bundle),
        settings=settings,
    )  # fmt: skip
    now = datetime.now(UTC)
    mark: PrintMark | None = None
    if printed:
        code = new_code()
        name = await _person_name(call.store, call.principal, person_name)
        mark = PrintMark(
            code, verification_url(_public_base(settings, call), code), now, name,
            view.facility or view.authority, zone=zone,
        )  # fmt: skip
    pdf, pages = await asyncio.to_thread(render_pdf, view, mark=mark, zone=zone)
    reason = (
        "Bản giấy chuyển đổi từ hồ sơ bệnh án điện tử / printed copy" if printed else "Hồ sơ bệnh án điện tử"
    )
    ltv = bool(getattr(settings, "pdf_long_term_validation", True))
    sign: Callable[..., bytes] = sign_pdf
    try:
        try:
            signed = await asyncio.to_thread(
                sign, pdf, key, tsa_url=services.tsa_url, trust_roots=services.trust_roots,
                embed_validation_info=ltv, reason=reason, location=view.place, name=signer.signer,
            )  # fmt: skip
        except PadesError as first:
            if not ltv:
                raise
            log.warning("PAdES B-LT failed, signing B-T: %s", first)
            signed = await asyncio.to_thread(
                sign,
                pdf,
                key,
                tsa_url=services.tsa_url,
                reason=reason,
                location=view.place,
                name=signer.signer,
            )
    except PadesError as e:
        raise OperationError(
            503, f"Không ký được tệp PDF / the PDF could not be signed: {e}", "transient"
        ) from None
    headers = {"Content-Disposition": f'inline; filename="{_filename(view.doc_type, call.resource_id)}"'}
    if mark is not None:
        patient = resolve(bundle, comp.get("subject"))
        record = PrintRecord(
            code=mark.code,
            composition=call.resource_id,
            version=int((comp.get("meta") or {}).get("versionId") or 0),
            doc_type=view.doc_type,
            title=view.title_vi,
            document_date=view.date,
            facility=_reference(comp.get("custodian")),
            facility_name=view.facility,
            patient=(patient or {}).get("id"),
            patient_initials=initials(human_name(patient)),
            birth_year=_birth_year(patient),
            printed_at=now,
            printed_by=call.principal.subject if call.principal is not None else "",
            printed_by_name=mark.printed_by,
            printed_role=",".join(sorted(call.principal.roles)) if call.principal is not None else "",
            pdf_sha256=hashlib.sha256(signed).digest(),
            pdf_pages=pages,
            signer_cert_sha256=hashlib.sha256(key.certificate.public_bytes(Encoding.DER)).digest(),
        )
        await _log(call, record)
        headers["X-Lookup-Code"] = mark.code
    return OperationResult(resource=None, content=signed, media_type="application/pdf", headers=headers)


async def _log(call: OperationCall, record: PrintRecord) -> None:
    source = call.headers.get("x-forwarded-for", "").split(",")[0].strip() or None
    for attempt in range(3):
        try:
            async with call.store.pool.connection() as conn, conn.transaction():
                await record_print(conn, record, principal=call.principal, source_ip=source)
            return
        except psycopg.errors.UniqueViolation:  # 60 random bits collided: a new code
            if attempt == 2:
                raise
            record = replace(record, code=new_code())


def _reference(value: Any) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    return str(ref) if isinstance(ref, str) and ref else None


def _filename(doc_type: str, composition_id: str) -> str:
    safe = "".join(
        c if c.isalnum() or c in "-_." else "-" for c in f"{doc_type or 'document'}-{composition_id}"
    )
    return f"{safe[:100]}.pdf"


def register_printing_operations(settings: Any, *, person_name: PersonName | None = None) -> None:
    """Register ``Composition/[id]/$pdf`` (``person_name``: how to name the person printing, e.g. from
    the account directory; default: the caller's Practitioner, else their account id)."""

    async def handler(call: OperationCall) -> OperationResult:
        if call.level != "instance" or call.resource_id is None:
            raise OperationError(404, "$pdf is an instance operation: Composition/[id]/$pdf", "not-supported")
        return await make_pdf(call, settings, printed=_flag(call, "print"), person_name=person_name)

    register(
        Operation(
            name="pdf",
            handler=handler,
            levels=frozenset({"instance"}),
            definition=DEFINITION,
            resource_types=frozenset({"Composition"}),
            affects_state=False,
            documentation=(
                "The document as a PDF in the Ministry's form layout, signed (PAdES) with the certificate "
                "of one of its digital signatures. print=true: a printed copy with the conversion "
                "marking, a look-up code and QR code to /verify/{code}, the time and the person who "
                "printed; the print is logged and audited."
            ),
        ),
        replace=True,
    )


def unregister_printing_operations() -> None:
    """Remove ``$pdf`` (tests)."""
    unregister("pdf")
