"""JSON Web Signature with a detached payload, compact serialisation: ``header..signature``.

Spec: RFC 7515 (JWS) §3.1 and §5 (compact serialisation, signing input
``BASE64URL(header) || '.' || BASE64URL(payload)``), Appendix F (detached content: the payload part is
left empty and the verifier supplies the payload), RFC 7518 §3.3 / §3.4 (``RS256``: RSASSA-PKCS1-v1_5
with SHA-256; ``ES256``: ECDSA P-256 with SHA-256, the signature as the 64-byte ``R || S``), RFC 7515
§4.1.6 (``x5c``: the certificate chain, standard base64 DER, the signer's certificate first) and
§4.1.11 (``crit``); ETSI TS 119 182-1 (JAdES) §5.2.1 for ``sigT`` (the claimed signing time) and
``srCms`` (the signer's commitment: the signature type). FHIR carries such a JWS in ``Signature.data``
with ``sigFormat`` ``application/jose`` (https://hl7.org/fhir/R4/datatypes.html#Signature).

Written here rather than with a JOSE library because the private key is not in this process: it sits
behind :class:`senhealth.emr.pki.keys.SigningKey` (a file, a PKCS#11 token, an HSM, a remote signing
service), which signs bytes and returns PKCS#1 v1.5 or DER ECDSA signatures. A JWS over a detached
payload is then a few lines: build the signing input, have the key sign it, convert a DER ECDSA
signature to ``R || S``. Verification uses ``cryptography`` with the public key of ``x5c[0]``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from senhealth.emr.signatures.canonical import canonical_json

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "DetachedJws",
    "JwsError",
    "JwsSigner",
    "b64url",
    "b64url_decode",
    "parse_detached",
    "sign_detached",
    "verify_detached",
]

#: The algorithms this module signs and verifies.
SUPPORTED_ALGORITHMS: Final = frozenset({"RS256", "ES256"})
#: Header parameters this module understands when a JWS lists them in ``crit``.
_UNDERSTOOD_CRITICAL: Final = frozenset({"sigT"})
_P256_BYTES: Final = 32


class JwsError(ValueError):
    """A JWS that is malformed, uses what this module does not support, or does not verify."""


class JwsSigner(Protocol):
    """What signs: :class:`senhealth.emr.pki.keys.SigningKey` fits (``sign`` is SHA-256, PKCS#1 v1.5 for
    RSA, DER for ECDSA)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    algorithm: str

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DetachedJws:
    """A parsed compact JWS with a detached payload."""

    token: str  # header..signature, as stored
    header: dict[str, Any]
    header_b64: str
    signature: bytes  # the JWS Signature octets (R || S for ECDSA)

    @property
    def algorithm(self) -> str:
        return str(self.header.get("alg", ""))

    def certificates(self) -> list[x509.Certificate]:
        """The ``x5c`` chain, the signer's certificate first (raises :class:`JwsError`)."""
        raw = self.header.get("x5c")
        if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
            raise JwsError("the JWS header has no x5c certificate chain")
        try:
            return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in raw]
        except (ValueError, binascii.Error) as e:
            raise JwsError(f"the x5c certificate chain cannot be read: {e}") from None


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse of :func:`b64url`; raises :class:`JwsError` for anything but base64url."""
    if any(c in text for c in "+/= \n"):
        raise JwsError("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as e:
        raise JwsError(f"not base64url text: {e}") from None


def _signing_input(header_b64: str, payload: bytes) -> bytes:
    return f"{header_b64}.{b64url(payload)}".encode("ascii")


def sign_detached(payload: bytes, header: Mapping[str, Any], key: JwsSigner) -> str:
    """A compact JWS over ``payload`` with the payload left out: ``header..signature``.

    ``header`` gets ``alg`` from the key and ``x5c`` from its certificate and chain unless given.
    """
    alg = key.algorithm
    if alg not in SUPPORTED_ALGORITHMS:
        raise JwsError(f"the signing key's algorithm {alg!r} is not supported (RS256, ES256)")
    full: dict[str, Any] = {"alg": alg, **header}
    if full["alg"] != alg:
        raise JwsError(f"the header names {full['alg']!r} but the key signs {alg}")
    full.setdefault("x5c", [_der_b64(c) for c in (key.certificate, *key.chain)])
    header_b64 = b64url(canonical_json(full))
    raw = key.sign(_signing_input(header_b64, payload))
    if alg == "ES256":
        r, s = decode_dss_signature(raw)
        raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    return f"{header_b64}..{b64url(raw)}"


def _der_b64(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def parse_detached(token: str) -> DetachedJws:
    """Parse ``header..signature`` (raises :class:`JwsError`); nothing is verified yet."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise JwsError("a compact JWS has three parts separated by '.'")
    header_b64, payload_b64, signature_b64 = parts
    if payload_b64:
        raise JwsError("the JWS carries its payload: a detached payload was expected")
    try:
        header = orjson.loads(b64url_decode(header_b64))
    except orjson.JSONDecodeError:
        raise JwsError("the JWS header is not JSON") from None
    if not isinstance(header, dict):
        raise JwsError("the JWS header is not a JSON object")
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise JwsError(f"the JWS algorithm {alg!r} is not accepted (RS256, ES256)")
    if header.get("b64") is False:
        raise JwsError("unencoded payloads (RFC 7797 b64=false) are not accepted")
    crit = header.get("crit")
    if crit is not None:
        if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
            raise JwsError("the JWS crit header must be a non-empty list of names")
        unknown = sorted(set(crit) - _UNDERSTOOD_CRITICAL)
        if unknown:
            raise JwsError(
                f"the JWS marks header parameters this verifier does not know as critical: {unknown}"
            )
    return DetachedJws(token.strip(), header, header_b64, b64url_decode(signature_b64))


def verify_detached(token: str | DetachedJws, payload: bytes) -> DetachedJws:
    """Verify the JWS over ``payload`` with the public key of its ``x5c[0]``; return it parsed.

    Raises :class:`JwsError` when it does not verify. Whether the certificate is to be trusted is
    :func:`senhealth.emr.pki.validation.check_certificate`'s question, not this one's.
    """
    jws = parse_detached(token) if isinstance(token, str) else token
    public = jws.certificates()[0].public_key()
    data = _signing_input(jws.header_b64, payload)
    try:
        if jws.algorithm == "RS256":
            if not isinstance(public, rsa.RSAPublicKey):
                raise JwsError("RS256 needs an RSA certificate")
            public.verify(jws.signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:  # ES256
            if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
                raise JwsError("ES256 needs a P-256 certificate")
            if len(jws.signature) != 2 * _P256_BYTES:
                raise JwsError("an ES256 signature is 64 bytes")
            r = int.from_bytes(jws.signature[:_P256_BYTES], "big")
            s = int.from_bytes(jws.signature[_P256_BYTES:], "big")
            public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise JwsError("the signature does not match the document: it was changed after signing") from None
    return jws
