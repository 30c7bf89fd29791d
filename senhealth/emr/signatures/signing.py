"""Signing a clinical document: the author's signature on the document Bundle, and counter-signatures.

Spec: https://hl7.org/fhir/R4/documents.html (a document is signed as the Bundle
``Composition/$document`` returns), https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.signature,
https://hl7.org/fhir/R4/provenance.html, RFC 7515 (JWS), RFC 3161 (timestamps); Decree 23/2025 (signing
software checks the certificate's status before signing) and Circular 13/2025 Art. 3.

:func:`sign_document` is one signature:

1. the signer's certificate is checked now (path to a trust anchor, validity period, revocation by OCSP or
   CRL: :func:`senhealth.emr.pki.validation.check_certificate`); an invalid one cannot sign
   (:class:`SigningRefused`, 422, with the reason in Vietnamese and English);
2. the bytes to sign: for the **author** (the first signature), a new document Bundle generated from the
   Composition (:func:`senhealth.emr.documents.document.build_document_bundle`); for every other role, the
   Bundle the author signed, as stored: counter-signatures cover the very same bytes
   (:func:`~senhealth.emr.signatures.canonical.canonical_document`);
3. a compact detached JWS (:mod:`~senhealth.emr.signatures.jws`) whose protected header carries ``alg``,
   ``x5c`` (the signer's certificate and its CAs), ``x5t#S256``, ``sigT`` (the signing time), ``srCms``
   (the commitment: the ASTM signature type of the role), ``cty`` and ``tstUrl`` (the TSA that is asked
   for the timestamp, whose token is then kept beside the JWS);
4. an RFC 3161 timestamp over the JWS signature value (:func:`senhealth.emr.pki.timestamp.request_timestamp`):
   no timestamp, no signature (503);
5. in one transaction, with the Composition's row locked (two signers queue): for the author, the
   Bundle is stored with ``Bundle.signature`` set and the record tag, and read back to check that the
   stored form still canonicalises to the signed bytes; then the Provenance of the signature
   (:func:`~senhealth.emr.signatures.provenance.provenance_record`), targeting the Bundle and the
   Composition version. Nothing is written when any step fails.

Rules: the author signs first; nobody signs the same document twice in the same role; the Bundle is
never rewritten (counter-signatures are Provenances only).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from senhealth.emr.documents.document import build_document_bundle
from senhealth.emr.pki.errors import TimestampError
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.timestamp import request_timestamp
from senhealth.emr.pki.validation import CertificateCheck, async_check_certificate
from senhealth.emr.signatures.canonical import canonical_document
from senhealth.emr.signatures.immutability import signature_writes
from senhealth.emr.signatures.jws import JwsError, b64url, parse_detached, sign_detached, verify_detached
from senhealth.emr.signatures.model import ROLE_EXTENSION, ROLES, SIGNED_BUNDLE_TAG, Role
from senhealth.emr.signatures.provenance import extension_value, jws_signature, provenance_record
from senhealth.emr.signatures.records import SignedRecords, signed_records
from senhealth.emr.signatures.services import PkiServices
from senhealth.fhir.access import Restriction
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore

__all__ = [
    "SignResult",
    "Signer",
    "SigningRefused",
    "certificate_name",
    "composition_reference",
    "sign_document",
]

_JWS_TYPE: Final = "JOSE"
_CONTENT_TYPE: Final = "application/fhir+json"


class SigningRefused(OperationError):
    """A signature that may not be made (the message is Vietnamese, then English)."""

    def __init__(
        self, status: int, message: str, code: str = "business-rule", expression: str | None = None
    ) -> None:
        super().__init__(status, message, code, expression)


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs, in which role, with which key. ``who``: the FHIR Reference of the signer
    (``Practitioner/..``, ``Patient/..``, ``Organization/..``, with a display); ``on_behalf_of``: the
    organisation a practitioner signs for (optional)."""

    role: Role
    key: SigningKey
    who: dict[str, Any]
    on_behalf_of: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SignResult:
    """What one signature stored."""

    bundle: dict[str, Any]  # the signed document Bundle as stored
    provenance: dict[str, Any]  # the Provenance of this signature, as stored
    signature: dict[str, Any]
    signed_at: datetime
    timestamp_token: bytes
    created_bundle: bool  # True for the author's signature (a new signed Bundle)
    warnings: list[str] = field(default_factory=list)

    @property
    def bundle_id(self) -> str:
        return str(self.bundle["id"])

    @property
    def provenance_id(self) -> str:
        return str(self.provenance["id"])


def certificate_name(cert: x509.Certificate) -> str:
    """The certificate subject's common name (else the whole subject)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def document_subject(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """``Composition.subject`` of the document's first entry as a relative reference (``Patient/<id>``,
    found through the entry's ``fullUrl`` when the document uses ``urn:uuid:`` URLs), or None."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    comp = entries[0].get("resource") if entries else None
    subject = comp.get("subject") if isinstance(comp, dict) else None
    if not isinstance(subject, dict) or not isinstance(subject.get("reference"), str):
        return None
    text: str = subject["reference"]
    for entry in entries:
        resource = entry.get("resource")
        if entry.get("fullUrl") == text and isinstance(resource, dict):
            return {"reference": f"{resource.get('resourceType')}/{resource.get('id')}"}
    return subject


def composition_reference(bundle: dict[str, Any]) -> str:
    """``Composition/<id>/_history/<version>`` of the document's first entry."""
    entries = bundle.get("entry") or []
    comp = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    if not isinstance(comp, dict) or comp.get("resourceType") != "Composition":
        raise ValueError("the document Bundle does not start with a Composition")
    version = (comp.get("meta") or {}).get("versionId")
    ref = f"Composition/{comp.get('id')}"
    return f"{ref}/_history/{version}" if version else ref


def _header(signer: Signer, when: datetime, tsa_url: str) -> dict[str, Any]:
    spec = ROLES[signer.role]
    der = signer.key.certificate.public_bytes(Encoding.DER)
    return {
        "typ": _JWS_TYPE,
        "cty": _CONTENT_TYPE,
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
        "sigT": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "srCms": [{"commId": {"id": f"urn:oid:{spec.code}", "desc": spec.display}}],
        "tstUrl": tsa_url,
    }


def _same_signer(signature: dict[str, Any], signer: Signer) -> bool:
    who = signature.get("who") or {}
    if who.get("reference") and who.get("reference") == signer.who.get("reference"):
        return True
    try:
        jws = parse_detached(_token_of(signature))
        return jws.certificates()[0] == signer.key.certificate
    except ValueError:
        return False


def _token_of(signature: dict[str, Any]) -> str:
    return base64.b64decode(str(signature.get("data", ""))).decode("ascii")


def _check_intact(document: dict[str, Any], payload: bytes) -> None:
    """A counter-signature covers what the author signed: refuse when the stored document no longer
    matches its author signature (it was changed behind the store's back)."""
    author = document.get("signature")
    try:
        if not isinstance(author, dict):
            raise JwsError("no author signature")
        verify_detached(_token_of(author), payload)
    except (JwsError, ValueError) as e:
        raise SigningRefused(
            409,
            f"Tài liệu đã lưu không còn khớp chữ ký của người lập, không thể ký tiếp / the stored document no "
            f"longer matches its author signature ({e}): it cannot be counter-signed",
        ) from None


def _check_order(records: SignedRecords, signer: Signer) -> None:
    """The author first; one signature per signer and role."""
    latest = records.latest
    if latest is None:
        if signer.role != "author":
            raise SigningRefused(
                409,
                "Người lập chưa ký tài liệu này: người lập ký trước / the author has not signed this document "
                "yet: the author signs first",
            )
        return
    if signer.role == "author":
        raise SigningRefused(
            409,
            f"Tài liệu đã được người lập ký (Bundle/{latest.res_id}); hãy ký với vai trò khác (coauthor, "
            f"verifier, patient, organization) / the document is already signed by its author "
            f"(Bundle/{latest.res_id}); sign in another role",
        )
    for row in records.provenances.get(latest.res_id, []):
        for sig in row.content.get("signature") or []:
            if extension_value(sig, ROLE_EXTENSION, "valueCode") == signer.role and _same_signer(sig, signer):
                raise SigningRefused(
                    409,
                    f"Bạn đã ký tài liệu này với vai trò {signer.role} / you have already signed this document "
                    f"as {signer.role} (Provenance/{row.res_id})",
                )


async def sign_document(
    store: FhirStore,
    composition_id: str,
    signer: Signer,
    services: PkiServices,
    *,
    base_url: str = "",
    restriction: Restriction | None = None,
    now: datetime | None = None,
) -> SignResult:
    """Sign the document of ``Composition/{composition_id}`` (see the module docstring).

    Raises :class:`SigningRefused` (an invalid certificate, the wrong order, a second signature),
    :class:`~senhealth.emr.documents.document.DocumentError` (no such Composition, a reference that does
    not resolve) or :class:`OperationError` 503 (no timestamp could be had).
    """
    when = (now or datetime.now(UTC)).astimezone(UTC)
    check = await async_check_certificate(
        signer.key.certificate, signer.key.chain, at=when, trust_roots=services.trust_roots
    )
    if not check.valid:
        raise SigningRefused(
            422,
            f"Chứng thư số không dùng để ký được: {check.reason_vi} / the certificate cannot sign: {check.reason}",
            "security",
        )
    records = await signed_records(store, composition_id)
    _check_order(records, signer)
    # the first signature makes the document final: the signed Bundle and its print say so
    previous = await _finalise(store, composition_id) if records.latest is None else None
    try:
        return await _sign_and_store(
            store, composition_id, signer, services, records, check, when, base_url, restriction
        )
    except BaseException:
        if previous is not None:  # nothing was signed: the draft is a draft again
            await _restore_status(store, composition_id, previous)
        raise


async def _finalise(store: FhirStore, composition_id: str) -> str | None:
    """Set ``Composition.status`` to ``final`` before the first signature; the status it had (None when it
    was final already or is not a draft: amended, entered-in-error)."""
    comp = (await store.read("Composition", composition_id)).content
    if comp is None or comp.get("status") != "preliminary":
        return None
    await store.update({**comp, "status": "final"})
    return "preliminary"


async def _restore_status(store: FhirStore, composition_id: str, status: str) -> None:
    comp = (await store.read("Composition", composition_id)).content
    if comp is not None and comp.get("status") == "final":
        await store.update({**comp, "status": status})


async def _sign_and_store(
    store: FhirStore,
    composition_id: str,
    signer: Signer,
    services: PkiServices,
    records: SignedRecords,
    check: CertificateCheck,
    when: datetime,
    base_url: str,
    restriction: Restriction | None,
) -> SignResult:
    if records.latest is None:
        document = await build_document_bundle(
            store, composition_id, base_url=base_url, timestamp=when, restriction=restriction
        )
    else:
        document = records.latest.content
    payload = canonical_document(document)
    if records.latest is not None:
        _check_intact(document, payload)
    token = await asyncio.to_thread(
        sign_detached, payload, _header(signer, when, services.tsa_url), signer.key
    )
    jws = parse_detached(token)
    try:
        tst = await asyncio.to_thread(request_timestamp, jws.signature, services.tsa_url)
    except TimestampError as e:
        raise OperationError(
            503,
            f"Không lấy được dấu thời gian nên chưa ký / no timestamp could be obtained, nothing was signed: {e}",
            "transient",
        ) from e
    signature = jws_signature(
        role=signer.role,
        token=token,
        timestamp_token=tst,
        when=when,
        who=signer.who,
        on_behalf_of=signer.on_behalf_of,
    )
    name = certificate_name(signer.key.certificate)
    async with store.transaction() as tx:
        await tx.lock_existing([("Composition", composition_id)])
        again = await signed_records(store, composition_id, conn=tx.conn)
        if [b.res_id for b in again.bundles] != [b.res_id for b in records.bundles]:
            raise SigningRefused(
                409, "Tài liệu vừa được ký bởi người khác; hãy thử lại / signed concurrently: retry"
            )
        _check_order(again, signer)
        with signature_writes():
            if records.latest is None:
                to_store = dict(document)
                to_store.pop("id", None)
                to_store["meta"] = {"tag": [dict(SIGNED_BUNDLE_TAG)]}
                to_store["signature"] = signature
                stored = await tx.create(to_store)
                assert stored.content is not None
                if canonical_document(stored.content) != payload:
                    raise RuntimeError("the stored document does not canonicalise to the signed bytes")
                bundle = stored.content
                bundle_ref = stored.location
            else:
                bundle = document
                bundle_ref = f"Bundle/{records.latest.res_id}/_history/{records.latest.version}"
            provenance = provenance_record(
                role=signer.role,
                signature=signature,
                bundle_ref=bundle_ref,
                composition_ref=composition_reference(bundle),
                recorded=when,
                signer_name=name,
                subject=document_subject(bundle),
                evidence={"checked_at": check.checked_at.isoformat(), **check.evidence}
                if check.evidence
                else None,
            )
            prov = await tx.create(provenance)
    assert prov.content is not None
    return SignResult(bundle, prov.content, signature, when, tst, records.latest is None)
