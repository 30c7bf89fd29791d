"""An installation's PKI: create the development CA (``senhealth pki init``), load it, issue, revoke.

Spec: https://www.rfc-editor.org/rfc/rfc5280 (certificates, CRLs); see docs/pki.md.

:func:`init_pki` creates, for a fresh installation, the root and intermediate CAs, the OCSP responder's
and the TSA's certificates, and the first CRLs, in the PKI folder (``senhealth.emr.pki.keystore``) and the
register (table ``pki_certificate``); it is refused in production (a real deployment uses a licensed
CA: configure its roots as trust roots instead) and does nothing on an installation already initialised.
The CA's own keys are always in the local key store (encrypted files); user and organisation keys go
to the configured key store (``pkcs11`` for tokens and HSMs). Everything here that touches the register
needs the database pool open (``senhealth.core.db``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from senhealth.emr.pki import certificate_authority as profiles
from senhealth.emr.pki.authority import Authority
from senhealth.emr.pki.certificate_store import PostgresRegistry
from senhealth.emr.pki.errors import PkiError
from senhealth.emr.pki.keys import LocalSigningKey
from senhealth.emr.pki.keystore import (
    CONFIG_FILE,
    LocalKeyStore,
    _passphrase,
    key_store,
    load_certificates,
    pki_config,
    pki_dir,
    save_certificate,
    write_private,
)
from senhealth.emr.pki.registry import CertificateRegistry, IssuedCertificate, issued_record

__all__ = [
    "DEFAULT_BASE_URL",
    "InitResult",
    "init_pki",
    "issue_organization_key",
    "issue_user_key",
    "load_authority",
    "revoke_certificate",
    "trust_roots",
    "tsa_url",
    "write_crls",
]

DEFAULT_BASE_URL: Final = "http://localhost:8000"
_CA_BITS: Final = 3072


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_pki` did: ``created`` False when the PKI existed already."""

    created: bool
    folder: Path
    base_url: str
    root: x509.Certificate
    intermediate: x509.Certificate


def _setting(settings: Any, name: str) -> Any:
    return getattr(settings, name, None)


def _base_url(settings: Any, base_url: str | None) -> str:
    chosen = (
        base_url or _setting(settings, "pki_base_url") or _setting(settings, "issuer_url") or DEFAULT_BASE_URL
    )
    chosen = str(chosen).rstrip("/")
    if not chosen.startswith(("http://", "https://")):
        raise PkiError(f"Địa chỉ gốc không hợp lệ / the PKI base URL must be http(s): {chosen!r}")
    return chosen


def _ca_store(settings: Any, folder: Path) -> LocalKeyStore:
    return LocalKeyStore(folder, _passphrase(settings, folder))


def _local(
    store: LocalKeyStore, folder: Path, name: str, chain: tuple[x509.Certificate, ...]
) -> LocalSigningKey:
    certificate = load_certificates(folder / "ca" / f"{name}.pem")[0]
    return LocalSigningKey(certificate, chain, store.private_key(name))


def load_authority(settings: Any, registry: CertificateRegistry | None = None) -> Authority:
    """The installation's CA (raises :class:`~senhealth.emr.pki.errors.NotInitialised` before ``pki init``)."""
    folder = pki_dir(settings)
    config = pki_config(folder)
    store = _ca_store(settings, folder)
    root = _local(store, folder, "root", ())
    intermediate = _local(store, folder, "intermediate", (root.certificate,))
    chain = (intermediate.certificate, root.certificate)
    return Authority(
        root=root,
        intermediate=intermediate,
        ocsp=_local(store, folder, "ocsp", chain),
        tsa=_local(store, folder, "tsa", chain),
        registry=registry or PostgresRegistry(),
        urls=profiles.pki_urls(str(config["base_url"])),
    )


def trust_roots(settings: Any) -> tuple[x509.Certificate, ...]:
    """The roots signatures are checked against: the installation's root and the ``pki_trust_roots`` files."""
    roots: list[x509.Certificate] = []
    own = pki_dir(settings) / "ca" / "root.pem"
    if own.is_file():
        roots += load_certificates(own)
    for extra in _setting(settings, "pki_trust_roots") or ():
        roots += load_certificates(Path(extra))
    return tuple(roots)


def tsa_url(settings: Any) -> str:
    """The timestamp authority to use: the ``pki_tsa_url`` setting, else this installation's ``/pki/tsa``."""
    configured = _setting(settings, "pki_tsa_url")
    if configured:
        return str(configured)
    return profiles.pki_urls(str(pki_config(pki_dir(settings))["base_url"])).tsa


async def write_crls(authority: Authority, folder: Path) -> list[Path]:
    """Write the current CRLs to ``<pki>/crl/{root,intermediate}.crl`` (DER); returns the paths."""
    paths = []
    for name in profiles.CA_NAMES:
        path = folder / "crl" / f"{name}.crl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(await authority.crl(name))
        paths.append(path)
    return paths


async def init_pki(
    settings: Any,
    *,
    base_url: str | None = None,
    registry: CertificateRegistry | None = None,
    key_bits: int = _CA_BITS,
) -> InitResult:
    """Create the development CA, OCSP responder, TSA and CRLs (see the module docstring)."""
    if str(_setting(settings, "environment") or "development") == "production":
        raise PkiError(
            "Không tạo CA phát triển ở chế độ production / the development CA is refused in production: "
            "use certificates from a licensed CA and list its roots in SENHEALTH_PKI_TRUST_ROOTS"
        )
    folder = pki_dir(settings)
    if (folder / CONFIG_FILE).is_file():
        config = pki_config(folder)
        return InitResult(
            created=False,
            folder=folder,
            base_url=str(config["base_url"]),
            root=load_certificates(folder / "ca" / "root.pem")[0],
            intermediate=load_certificates(folder / "ca" / "intermediate.pem")[0],
        )
    url = _base_url(settings, base_url)
    urls = profiles.pki_urls(url)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = _ca_store(settings, folder)
    register = registry or PostgresRegistry()

    root_key = profiles.new_rsa_key(key_bits)
    root = LocalSigningKey(profiles.build_root(root_key), (), root_key)
    inter_key = profiles.new_rsa_key(key_bits)
    inter_cert = profiles.build_intermediate(root, inter_key.public_key(), urls=urls)
    intermediate = LocalSigningKey(inter_cert, (root.certificate,), inter_key)
    chain = (inter_cert, root.certificate)
    ocsp_key = profiles.new_rsa_key(min(key_bits, 3072))
    ocsp = LocalSigningKey(
        profiles.issue_ocsp_responder(intermediate, ocsp_key.public_key(), urls=urls), chain, ocsp_key
    )
    tsa_key = profiles.new_rsa_key(min(key_bits, 3072))
    tsa = LocalSigningKey(
        profiles.issue_timestamping(intermediate, tsa_key.public_key(), urls=urls), chain, tsa_key
    )

    for name, key, kind, issuer in (
        ("root", root, "root", "root"),
        ("intermediate", intermediate, "intermediate", "root"),
        ("ocsp", ocsp, "ocsp", "intermediate"),
        ("tsa", tsa, "tsa", "intermediate"),
    ):
        await register.add(issued_record(key.certificate, kind=kind, holder=None, issuer=issuer))
        store.store(name, key.private_key)
        save_certificate(folder, name, key.certificate)
    keystore_kind = str(_setting(settings, "pki_keystore") or "local")
    authority = Authority(root, intermediate, ocsp, tsa, register, urls)
    await write_crls(authority, folder)
    # pki.json last: its presence means "initialised".
    config_bytes = json.dumps(
        {"base_url": url, "keystore": keystore_kind, "created": datetime.now(UTC).isoformat()}, indent=2
    ).encode()
    write_private(folder / CONFIG_FILE, config_bytes)
    return InitResult(True, folder, url, root.certificate, inter_cert)


async def issue_user_key(
    settings: Any,
    username: str,
    *,
    display_name: str,
    organization: str | None = None,
    authority: Authority | None = None,
    key_bits: int = 2048,
) -> IssuedCertificate:
    """A new key pair for ``username`` in the key store and a signing certificate for it."""
    ca = authority or load_authority(settings)
    folder = pki_dir(settings)
    name = f"user:{username}"
    store = key_store(settings, folder)
    public = store.generate(name, bits=key_bits)
    certificate = await ca.issue_user(
        public, username=username, display_name=display_name, organization=organization
    )
    save_certificate(folder, name, certificate)
    return _record_of(certificate, "user", username)


async def issue_organization_key(
    settings: Any,
    organization_id: str,
    *,
    name: str,
    authority: Authority | None = None,
    key_bits: int = 2048,
) -> IssuedCertificate:
    """A new key pair for the facility ``organization_id`` and a signing certificate for it."""
    ca = authority or load_authority(settings)
    folder = pki_dir(settings)
    key_name = f"organization:{organization_id}"
    store = key_store(settings, folder)
    public = store.generate(key_name, bits=key_bits)
    certificate = await ca.issue_organization(public, organization_id=organization_id, name=name)
    save_certificate(folder, key_name, certificate)
    return _record_of(certificate, "organization", organization_id)


def _record_of(certificate: x509.Certificate, kind: str, holder: str) -> IssuedCertificate:
    return issued_record(certificate, kind=kind, holder=holder, issuer="intermediate")


async def revoke_certificate(
    settings: Any, serial: int, *, reason: str | None = None, at: datetime | None = None
) -> IssuedCertificate:
    """Revoke ``serial`` (from now by default) and rewrite the CRL files."""
    authority = load_authority(settings)
    record = await authority.revoke(serial, at=at or datetime.now(UTC), reason=reason)
    await write_crls(authority, pki_dir(settings))
    return record


def certificate_pem(record: IssuedCertificate) -> str:
    return record.certificate.public_bytes(Encoding.PEM).decode("ascii")
