"""PAdES signatures on the printed form's PDF, made with the document signer's own key.

Spec: ETSI EN 319 142-1 (PAdES baseline: B-B a CMS signature with the signing certificate attribute,
B-T plus an RFC 3161 signature timestamp, B-LT plus the validation data (certificates, OCSP
responses, CRLs) in the PDF's Document Security Store); ISO 32000-2 §12.8 (``/ETSI.CAdES.detached``
signatures); RFC 3161 (timestamps). pyHanko https://docs.pyhanko.eu/ signs and validates.

The key never leaves its key store: the pyHanko ``Signer`` is
:func:`senhealth.emr.pki.pyhanko_signer.pyhanko_signer`, whose raw signature is ``SigningKey.sign()``
(RSASSA-PKCS1-v1_5 or ECDSA over SHA-256), so the same code signs with a local PEM key, a PKCS#11 token
or a remote service. :func:`sign_pdf` makes a
PAdES B-T signature (B-LT with ``embed_validation_info``: pyHanko fetches the OCSP responses and CRLs
named in the certificates and embeds them, so the PDF stays verifiable after the responders are gone).
:func:`validate_pdf` validates every signature of a PDF against given trust roots.

pyHanko's signing API is synchronous at the top (it runs its own event loop), so :func:`sign_pdf` is
a plain function: async callers run it in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.core.errors import SenHealthError
from senhealth.emr.pki.keys import SigningKey
from senhealth.emr.pki.pyhanko_signer import pyhanko_signer

__all__ = [
    "FIELD_NAME",
    "PadesError",
    "PdfSignatureCheck",
    "sign_pdf",
    "validate_pdf",
]

FIELD_NAME: Final = "SenHealthSignature"
_TIMEOUT_S: Final = 15


class PadesError(SenHealthError):
    """The PDF could not be signed (no timestamp, key refused, ...)."""


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def sign_pdf(
    pdf: bytes,
    key: SigningKey,
    *,
    tsa_url: str | None,
    trust_roots: Sequence[x509.Certificate] = (),
    embed_validation_info: bool = False,
    reason: str = "",
    location: str = "",
    name: str | None = None,
) -> bytes:
    """``pdf`` with a PAdES signature of ``key`` appended (an incremental update).

    ``tsa_url``: the RFC 3161 TSA of the signature timestamp (B-T); None makes a B-B signature.
    ``embed_validation_info``: also embed the certificates' revocation data (B-LT), validated against
    ``trust_roots`` (fetched from the OCSP responder and CRL distribution points the certificates name).
    Raises :class:`PadesError`.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko_certvalidator import ValidationContext

    timestamper = timestamps.HTTPTimeStamper(tsa_url, timeout=_TIMEOUT_S) if tsa_url else None
    context = None
    if embed_validation_info:
        if not trust_roots:
            raise PadesError("embedding validation information needs the trust roots")
        context = ValidationContext(
            trust_roots=[_asn1(c) for c in trust_roots],
            other_certs=[_asn1(c) for c in key.chain],
            allow_fetching=True,
            revocation_mode="hard-fail",
        )
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
        name=name,
        embed_validation_info=embed_validation_info,
        validation_context=context,
        use_pades_lta=False,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = signers.sign_pdf(writer, meta, signer=pyhanko_signer(key), timestamper=timestamper)
    except PadesError:
        raise
    except Exception as e:  # pyHanko raises many kinds: TSA down, revocation not found, key refused
        raise PadesError(f"the PDF could not be signed: {type(e).__name__}: {e}") from e
    return bytes(out.getvalue())


@dataclass(frozen=True, slots=True)
class PdfSignatureCheck:
    """One PAdES signature of a PDF, validated."""

    field: str
    valid: bool  # intact, trusted, and the whole file up to the signature is covered
    intact: bool
    trusted: bool
    coverage: str  # pyHanko's SignatureCoverageLevel name (ENTIRE_FILE, ENTIRE_REVISION, ...)
    signer: str  # the signing certificate's subject
    signer_serial: int
    timestamp: datetime | None  # the RFC 3161 signature timestamp (B-T), when there is one
    timestamp_valid: bool | None
    summary: str


def validate_pdf(pdf: bytes, trust_roots: Sequence[x509.Certificate]) -> list[PdfSignatureCheck]:
    """Validate every signature of ``pdf`` (none: an empty list) against ``trust_roots``, the
    revocation data embedded in the PDF or fetched from the responders it names."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    out: list[PdfSignatureCheck] = []
    for embedded in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[_asn1(c) for c in trust_roots], allow_fetching=True)
        status = validate_pdf_signature(embedded, context, ts_validation_context=context)
        ts = status.timestamp_validity
        cert = status.signing_cert
        out.append(
            PdfSignatureCheck(
                field=str(embedded.field_name),
                valid=bool(status.bottom_line),
                intact=bool(status.intact and status.valid),
                trusted=bool(status.trusted),
                coverage=status.coverage.name if status.coverage is not None else "",
                signer=cert.subject.human_friendly if cert is not None else "",
                signer_serial=int(cert.serial_number) if cert is not None else 0,
                timestamp=ts.timestamp if ts is not None else None,
                timestamp_valid=bool(ts.valid and ts.intact and ts.trusted) if ts is not None else None,
                summary=str(status.summary()),
            )
        )
    return out
