"""Key stores and the look-up of a user's or an organisation's signing key.

Spec: https://www.rfc-editor.org/rfc/rfc5958 (PKCS#8 encrypted private keys, PEM),
https://docs.oasis-open.org/pkcs11/pkcs11-base/v2.40/pkcs11-base-v2.40.html (PKCS#11, see
:mod:`senhealth.emr.pki.pkcs11_keystore`).

The PKI folder (``<data_dir>/pki``, or the ``pki_dir`` setting) holds::

    pki.json                       base URL, key store kind, creation time (written by ``pki init``)
    ca/{root,intermediate,ocsp,tsa}.pem      the CA's and its services' certificates
    users/<username>.pem           the newest signing certificate of each user
    organizations/<id>.pem         the newest signing certificate of each organisation
    keys/<name>.key.pem            private keys of the local key store (mode 0600)

A key's name: ``root``, ``intermediate``, ``ocsp``, ``tsa``, ``user:<username>``, ``organization:<id>``.
:class:`LocalKeyStore` keeps each as PKCS#8 PEM encrypted with the passphrase of the settings
(``pki_key_passphrase``; else the platform's ``secret_key``; in development without either, a random
passphrase kept in ``<pki>/.passphrase``, mode 0600; refused in production). :class:`Pkcs11KeyStore`
keeps them on a token, labelled with the name. Both return a
:class:`~senhealth.emr.pki.keys.SigningKey`; certificates always stay in the folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.emr.pki.errors import NoSigningKey, NotInitialised, PkiError
from senhealth.emr.pki.keys import LocalSigningKey, SigningKey

__all__ = [
    "CONFIG_FILE",
    "KeyStore",
    "LocalKeyStore",
    "certificate_path",
    "key_store",
    "load_certificates",
    "pki_config",
    "pki_dir",
    "save_certificate",
    "signing_key",
    "write_private",
]

CONFIG_FILE: Final = "pki.json"
_NAME: Final = re.compile(
    r"^(root|intermediate|ocsp|tsa|user:[A-Za-z0-9][A-Za-z0-9._@-]{0,63}|organization:[A-Za-z0-9.-]{1,64})$"
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    value = getattr(settings, name, default)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return value


def pki_dir(settings: Any) -> Path:
    """The PKI folder: the ``pki_dir`` setting, else ``<data_dir>/pki``."""
    configured = _setting(settings, "pki_dir")
    return Path(configured) if configured else Path(settings.data_dir) / "pki"


def pki_config(folder: Path) -> dict[str, Any]:
    """``pki.json`` of an initialised PKI folder (raises :class:`NotInitialised` when absent)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise NotInitialised(
            "Chưa khởi tạo hạ tầng khóa công khai / the PKI is not initialised: run `senhealth pki init` "
            f"(looked in {folder.name}/)"
        )
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PkiError(f"Tên khóa không hợp lệ / invalid key name {name!r}")
    return name


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (mode 0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(temporary, path)


def certificate_path(folder: Path, name: str) -> Path:
    """Where the certificate of the key ``name`` is kept."""
    check_name(name)
    if name.startswith("user:"):
        return folder / "users" / f"{name[5:]}.pem"
    if name.startswith("organization:"):
        return folder / "organizations" / f"{name[13:]}.pem"
    return folder / "ca" / f"{name}.pem"


def save_certificate(folder: Path, name: str, certificate: x509.Certificate) -> Path:
    path = certificate_path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_bytes(certificate.public_bytes(Encoding.PEM))
    os.replace(temporary, path)
    return path


def load_certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


class KeyStore(Protocol):
    """Where private keys live; certificates are in the PKI folder."""

    kind: str

    def generate(self, name: str, *, bits: int = 3072) -> PublicKey:
        """Make a new RSA key pair named ``name`` (replacing an older one) and return its public key."""
        ...

    def has(self, name: str) -> bool: ...

    def load(
        self, name: str, certificate: x509.Certificate, chain: tuple[x509.Certificate, ...]
    ) -> SigningKey:
        """The signing key ``name`` paired with its certificate."""
        ...


class LocalKeyStore:
    """Private keys as encrypted PKCS#8 PEM files (mode 0600) under ``<pki>/keys``."""

    kind = "local"

    def __init__(self, folder: Path, passphrase: bytes) -> None:
        if len(passphrase) < 16:
            raise PkiError(
                "Mật khẩu khóa quá ngắn / the key passphrase is too short (16 characters at least)"
            )
        self.folder = folder
        self._passphrase = passphrase

    def _path(self, name: str) -> Path:
        return self.folder / "keys" / f"{check_name(name).replace(':', '-')}.key.pem"

    def store(self, name: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> None:
        pem = key.private_bytes(
            Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        write_private(self._path(name), pem)

    def generate(self, name: str, *, bits: int = 3072) -> PublicKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.store(name, key)
        return key.public_key()

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def private_key(self, name: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        path = self._path(name)
        if not path.is_file():
            raise NoSigningKey(f"Không có khóa riêng / no private key {name!r} in the local key store")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=self._passphrase)
        except (ValueError, TypeError) as e:
            raise PkiError(
                f"Không mở được khóa riêng / cannot open the private key {name!r}: wrong passphrase?"
            ) from e
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise PkiError(f"unsupported key type in {path.name}")
        return key

    def load(
        self, name: str, certificate: x509.Certificate, chain: tuple[x509.Certificate, ...]
    ) -> SigningKey:
        return LocalSigningKey(certificate=certificate, chain=chain, private_key=self.private_key(name))


def _passphrase(settings: Any, folder: Path) -> bytes:
    configured = _setting(settings, "pki_key_passphrase") or _setting(settings, "secret_key")
    if configured and len(str(configured)) >= 16:
        return str(configured).encode()
    if str(_setting(settings, "environment", "development")) != "development":
        raise PkiError(
            "Thiếu mật khẩu khóa / no key passphrase: set SENHEALTH_PKI_KEY_PASSPHRASE (or SENHEALTH_SECRET_KEY) "
            "in production"
        )
    path = folder / ".passphrase"
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(32).encode())
    return path.read_bytes().strip()


def key_store(settings: Any, folder: Path | None = None, *, kind: str | None = None) -> KeyStore:
    """The key store of the settings: ``pki_keystore`` = ``local`` (default) or ``pkcs11``."""
    where = folder or pki_dir(settings)
    chosen = kind or str(_setting(settings, "pki_keystore", None) or "")
    if not chosen and (where / CONFIG_FILE).is_file():
        chosen = str(pki_config(where).get("keystore", "local"))
    if chosen in ("", "local"):
        return LocalKeyStore(where, _passphrase(settings, where))
    if chosen == "pkcs11":
        from senhealth.emr.pki.pkcs11_keystore import Pkcs11KeyStore

        return Pkcs11KeyStore.from_settings(settings)
    raise PkiError(f"Kho khóa không hỗ trợ / unsupported key store {chosen!r}: local or pkcs11")


def _chain(folder: Path) -> tuple[x509.Certificate, ...]:
    return tuple(
        load_certificates(folder / "ca" / "intermediate.pem") + load_certificates(folder / "ca" / "root.pem")
    )


def signing_key(settings: Any, *, user: str | None = None, organization: str | None = None) -> SigningKey:
    """The signing key of ``user`` (a username) or ``organization`` (an Organization id).

    Raises :class:`NoSigningKey` when none was issued (``senhealth pki issue``). The certificate is
    returned as issued, valid or not: whether it may sign is for
    :func:`senhealth.emr.pki.validation.check_certificate` to say.
    """
    if (user is None) == (organization is None):
        raise ValueError("give exactly one of user= or organization=")
    name = f"user:{user}" if user is not None else f"organization:{organization}"
    who = f"người dùng / user {user}" if user is not None else f"tổ chức / organization {organization}"
    folder = pki_dir(settings)
    try:
        check_name(name)
    except PkiError as e:
        raise NoSigningKey(f"Không có khóa ký cho {who}: invalid name") from e
    path = certificate_path(folder, name)
    if not path.is_file():
        raise NoSigningKey(
            f"Chưa cấp chứng thư số cho {who} / no signing certificate issued: run `senhealth pki issue "
            f"{'--user ' + str(user) if user is not None else '--organization ' + str(organization)}`"
        )
    certificate = load_certificates(path)[0]
    store = key_store(settings, folder)
    if not store.has(name):
        raise NoSigningKey(f"Không có khóa riêng cho {who} / no private key in the {store.kind} key store")
    return store.load(name, certificate, _chain(folder))
