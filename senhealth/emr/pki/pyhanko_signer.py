"""A pyHanko ``Signer`` backed by a :class:`~senhealth.emr.pki.keys.SigningKey` (PAdES, CMS signatures).

Spec: https://pyhanko.readthedocs.io/en/latest/lib-guide/signing.html#the-signer-class (custom signers),
https://www.rfc-editor.org/rfc/rfc5652 (CMS).

pyHanko's own ``SimpleSigner`` needs the private key's bytes, which a token or HSM never gives out; this
signer hands the data to ``key.sign`` instead (RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA with SHA-256),
so a PDF is signed the same way whether the key is a local file or on a PKCS#11 token. The signer's
certificate and the issuing chain are embedded (the root too).
"""

from __future__ import annotations

import asyncio

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from senhealth.emr.pki.keys import SigningKey

__all__ = ["SigningKeySigner", "pyhanko_signer"]


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


class SigningKeySigner(Signer):
    """pyHanko signer whose raw signatures come from a :class:`SigningKey`."""

    def __init__(self, key: SigningKey) -> None:
        mechanism = "sha256_rsa" if key.algorithm == "RS256" else "sha256_ecdsa"
        super().__init__(
            signing_cert=_asn1(key.certificate),
            cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in key.chain]),  # type: ignore[no-untyped-call,unused-ignore]
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": mechanism}),
            embed_roots=True,
        )
        self.key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm.lower() != "sha256":
            raise NotImplementedError(
                f"only SHA-256 signatures are made with this key, not {digest_algorithm}"
            )
        if dry_run:  # a placeholder of the right size
            public = self.key.certificate.public_key()
            size = getattr(public, "key_size", 2048)
            return bytes(size // 8 if self.key.algorithm == "RS256" else 72)
        return await asyncio.to_thread(self.key.sign, data)


def pyhanko_signer(key: SigningKey) -> SigningKeySigner:
    """A pyHanko ``Signer`` for ``key`` (use with ``pyhanko.sign.signers.PdfSigner``)."""
    return SigningKeySigner(key)
