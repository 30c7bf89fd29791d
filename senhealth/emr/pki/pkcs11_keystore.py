"""Signing keys on a PKCS#11 token: USB tokens, smart cards, HSMs (SoftHSM in tests).

Spec: https://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/pkcs11-base-v2.40.html (Cryptoki),
https://docs.oasis-open.org/pkcs11/pkcs11-curr/v2.40/pkcs11-curr-v2.40.html (CKM_SHA256_RSA_PKCS);
library: python-pkcs11 (https://python-pkcs11.readthedocs.io/).

Keys are RSA key pairs generated on the token (the private key is never extractable), labelled with the
key's name (``user:<username>``...); the certificate stays in the PKI folder. Each signature opens a
session, logs in with the PIN, signs with ``CKM_SHA256_RSA_PKCS`` (or ``CKM_RSA_PKCS`` over a
DigestInfo for an already computed SHA-256 digest) and closes it, so a key may be used from any thread.

Settings: ``pkcs11_library`` (path of the module, e.g. SoftHSM's ``libsofthsm2.so``), ``pkcs11_token``
(the token label), ``pkcs11_pin``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from senhealth.emr.pki.errors import NoSigningKey, PkiError
from senhealth.emr.pki.keys import jose_algorithm
from senhealth.emr.pki.keystore import check_name

__all__ = ["Pkcs11KeyStore", "Pkcs11SigningKey"]

# DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1): what CKM_RSA_PKCS signs for a precomputed digest.
_SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")
_LIBRARIES: dict[str, Any] = {}
_LOCK = threading.Lock()


def _library(path: str) -> Any:
    import pkcs11

    with _LOCK:
        if path not in _LIBRARIES:
            try:
                _LIBRARIES[path] = pkcs11.lib(path)
            except (RuntimeError, OSError, pkcs11.PKCS11Error) as e:
                raise PkiError(
                    f"Không nạp được thư viện PKCS#11 / cannot load the PKCS#11 module {path}: {e}"
                ) from e
        return _LIBRARIES[path]


@dataclass
class Pkcs11SigningKey:
    """A :class:`~senhealth.emr.pki.keys.SigningKey` whose private key is on a PKCS#11 token."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    store: Pkcs11KeyStore
    label: str
    algorithm: str = field(default="")

    def __post_init__(self) -> None:
        self.algorithm = jose_algorithm(self.certificate)
        if self.algorithm != "RS256":
            raise PkiError("only RSA keys are supported on PKCS#11 tokens")

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism

        return self.store.sign(self.label, data, Mechanism.SHA256_RSA_PKCS)

    def sign_digest(self, digest: bytes) -> bytes:
        """Signature over an already computed SHA-256 ``digest`` (32 bytes)."""
        from pkcs11 import Mechanism

        if len(digest) != 32:
            raise ValueError("a SHA-256 digest is 32 bytes")
        return self.store.sign(self.label, _SHA256_DIGEST_INFO + digest, Mechanism.RSA_PKCS)


class Pkcs11KeyStore:
    """Private keys on the token ``token_label`` of the PKCS#11 module ``library``."""

    kind = "pkcs11"

    def __init__(self, library: str, token_label: str, pin: str) -> None:
        import pkcs11

        self._lib = _library(library)
        try:
            self._token = self._lib.get_token(token_label=token_label)
        except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned) as e:
            raise PkiError(
                f"Không tìm thấy token PKCS#11 / no single PKCS#11 token labelled {token_label!r}"
            ) from e
        self._pin = pin
        self.token_label = token_label

    @classmethod
    def from_settings(cls, settings: Any) -> Pkcs11KeyStore:
        def value(name: str) -> str | None:
            raw = getattr(settings, name, None)
            if raw is not None and hasattr(raw, "get_secret_value"):
                raw = raw.get_secret_value()
            return str(raw) if raw else None

        library, token, pin = value("pkcs11_library"), value("pkcs11_token"), value("pkcs11_pin")
        if not (library and token and pin):
            raise PkiError(
                "Thiếu cấu hình PKCS#11 / PKCS#11 not configured: set SENHEALTH_PKCS11_LIBRARY, "
                "SENHEALTH_PKCS11_TOKEN and SENHEALTH_PKCS11_PIN"
            )
        return cls(library, token, pin)

    def _session(self) -> Any:
        import pkcs11

        try:
            return self._token.open(user_pin=self._pin, rw=True)
        except pkcs11.PinIncorrect as e:
            raise PkiError("Sai mã PIN của token / wrong PKCS#11 PIN") from e

    def _private(self, session: Any, label: str) -> Any:
        import pkcs11
        from pkcs11 import KeyType, ObjectClass

        try:
            return session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.RSA, label=label)
        except pkcs11.NoSuchKey as e:
            raise NoSigningKey(
                f"Không có khóa {label!r} trên token / no key {label!r} on the PKCS#11 token"
            ) from e
        except pkcs11.MultipleObjectsReturned as e:
            raise PkiError(f"Nhiều khóa cùng nhãn / several keys labelled {label!r} on the token") from e

    def generate(self, name: str, *, bits: int = 3072) -> rsa.RSAPublicKey:
        """A new RSA key pair on the token labelled ``name`` (older keys with that label are destroyed)."""
        from pkcs11 import Attribute, KeyType, MechanismFlag
        from pkcs11.util.rsa import encode_rsa_public_key

        label = check_name(name)
        with self._session() as session:
            for old in list(session.get_objects({Attribute.LABEL: label})):
                old.destroy()
            public, _private = session.generate_keypair(
                KeyType.RSA,
                bits,
                label=label,
                store=True,
                capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
            key = load_der_public_key(_spki(encode_rsa_public_key(public)))
        if not isinstance(key, rsa.RSAPublicKey):
            raise PkiError("the token returned a public key that is not RSA")
        return key

    def has(self, name: str) -> bool:
        from pkcs11 import Attribute, ObjectClass

        with self._session() as session:
            found = list(
                session.get_objects(
                    {Attribute.LABEL: check_name(name), Attribute.CLASS: ObjectClass.PRIVATE_KEY}
                )
            )
            return bool(found)

    def load(
        self, name: str, certificate: x509.Certificate, chain: tuple[x509.Certificate, ...]
    ) -> Pkcs11SigningKey:
        if not self.has(name):
            raise NoSigningKey(f"Không có khóa {name!r} trên token / no key {name!r} on the PKCS#11 token")
        return Pkcs11SigningKey(certificate=certificate, chain=chain, store=self, label=name)

    def sign(self, label: str, data: bytes, mechanism: Any) -> bytes:
        with self._session() as session:
            return bytes(self._private(session, label).sign(data, mechanism=mechanism))


def _spki(pkcs1: bytes) -> bytes:
    """SubjectPublicKeyInfo DER around a PKCS#1 RSAPublicKey."""
    from asn1crypto import keys

    return bytes(
        keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "rsa", "parameters": None},
                "public_key": keys.RSAPublicKey.load(pkcs1),
            }
        ).dump()
    )
