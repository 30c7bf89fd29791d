"""Signing keys: the interface every signature in the platform goes through, wherever the key lives.

A :class:`SigningKey` is a signer's certificate, the chain of CAs that issued it and a ``sign()`` that
produces a SHA-256 signature (RSASSA-PKCS1-v1_5 for RSA, DER-encoded ECDSA for EC keys: the JOSE
algorithms ``RS256`` and ``ES256``, https://www.rfc-editor.org/rfc/rfc7518#section-3.1). The private key
may be a local file (:class:`LocalSigningKey`), a PKCS#11 token or HSM (``pkcs11_keystore``), or a remote
signing service: callers never see it.

Libraries that want a private key object (signxml, pyHanko, jwcrypto, cryptography's builders) get one
from :func:`private_key_adapter`: for a local key the key itself, otherwise a
:class:`cryptography.hazmat.primitives.asymmetric.rsa.RSAPrivateKey` whose ``sign()`` is delegated to the
key store (https://cryptography.io/en/latest/hazmat/primitives/asymmetric/rsa/#key-interfaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, KeySerializationEncryption, PrivateFormat

__all__ = [
    "DelegatedRSAPrivateKey",
    "LocalSigningKey",
    "SigningKey",
    "jose_algorithm",
    "private_key_adapter",
]


@runtime_checkable
class SigningKey(Protocol):
    """A signer: certificate, issuing chain (leaf's issuer first, root last), JOSE algorithm, ``sign``."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    algorithm: str

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data`` with SHA-256: PKCS#1 v1.5 for RSA, DER for ECDSA."""
        ...


def jose_algorithm(certificate: x509.Certificate) -> str:
    """``RS256`` for an RSA certificate, ``ES256`` for a P-256 one; anything else is refused."""
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < 2048:
            raise ValueError(f"RSA key of {public.key_size} bits is too short (2048 at least)")
        return "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError(f"unsupported key type for signing: {type(public).__name__}")


@dataclass
class LocalSigningKey:
    """A :class:`SigningKey` whose private key is in this process (loaded from a PEM file)."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    algorithm: str = field(default="")

    def __post_init__(self) -> None:
        if self.private_key.public_key() != self.certificate.public_key():
            raise ValueError("the private key does not match the certificate's public key")
        self.algorithm = jose_algorithm(self.certificate)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def _refuse(what: str) -> NoReturn:
    raise NotImplementedError(f"{what}: the private key stays in its key store")


class DelegatedRSAPrivateKey(rsa.RSAPrivateKey):
    """An RSA private key object whose signatures are made by a :class:`SigningKey` (token, HSM...).

    Only what a key store can do is offered: PKCS#1 v1.5 signatures with SHA-256, given the data or a
    SHA-256 digest (:class:`~cryptography.hazmat.primitives.asymmetric.utils.Prehashed`). Decryption and
    export of the private numbers raise ``NotImplementedError``.
    """

    def __init__(self, key: SigningKey) -> None:
        public = key.certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise TypeError("the signing key's certificate does not hold an RSA public key")
        self._key = key
        self._public = public

    @property
    def signing_key(self) -> SigningKey:
        return self._key

    def sign(
        self,
        data: bytes | bytearray | memoryview[Any],
        padding: padding.AsymmetricPadding,
        algorithm: utils.Prehashed | hashes.HashAlgorithm | utils.NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, _PKCS1v15):
            raise NotImplementedError(
                f"padding {padding.name} is not offered by the key store (PKCS#1 v1.5 only)"
            )
        if isinstance(algorithm, utils.NoDigestInfo):
            raise NotImplementedError("signing without a DigestInfo is not offered by the key store")
        if isinstance(algorithm, utils.Prehashed):
            if not isinstance(algorithm._algorithm, hashes.SHA256):
                raise NotImplementedError("only SHA-256 digests can be signed")
            sign_digest = getattr(self._key, "sign_digest", None)
            if sign_digest is None:
                raise NotImplementedError("this key store signs data, not digests")
            return bytes(sign_digest(bytes(data)))
        if not isinstance(algorithm, hashes.SHA256):
            raise NotImplementedError(f"hash {algorithm.name} is not offered by the key store (SHA-256 only)")
        return self._key.sign(bytes(data))

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        _refuse("decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _refuse("private_numbers")

    def private_bytes(
        self,
        encoding: Encoding,
        format: PrivateFormat,
        encryption_algorithm: KeySerializationEncryption,
    ) -> bytes:
        _refuse("private_bytes")

    def __copy__(self) -> DelegatedRSAPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> DelegatedRSAPrivateKey:
        return self


_PKCS1v15 = padding.PKCS1v15


def private_key_adapter(key: SigningKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A private key object for libraries: the key itself when local, else a delegating RSA key."""
    local: PrivateKeyTypes | None = getattr(key, "private_key", None)
    if isinstance(local, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return local
    return DelegatedRSAPrivateKey(key)
